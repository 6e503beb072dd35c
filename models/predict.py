"""LightGBM's own C prediction call, made directly for the few rows of a quote.

``Booster.predict`` is built for every kind of input: for each call it makes a new
predictor, deep-copies its keyword arguments, asks the library three times for sizes
and counts, and converts the matrix, four foreign calls before the one that predicts.
A quote predicts several times on a handful of rows, so that wrapper cost more than
the trees themselves (the HTTP profile in docs/performance.md), and each foreign call
lets go of the GIL and waits to take it back behind the request threads.

:class:`DirectPredictor` makes only the one call that predicts,
``LGBM_BoosterPredictForMat``, with the same arguments ``Booster.predict`` passes for
a C-contiguous float64 matrix (raw scores or TreeSHAP of a single-output model), so
results are bit for bit the same (tests/models/test_models_predict.py). Where this
LightGBM does not offer what that needs (its private ``_LIB`` and ``_handle``, looked
up once), or the model has several outputs, it falls back to ``Booster.predict``.
"""

from __future__ import annotations

import ctypes
import logging
from enum import IntEnum
from typing import Any, Final

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

# lightgbm/c_api.h
_DTYPE_FLOAT64: Final = 1
_ROW_MAJOR: Final = 1


class Output(IntEnum):
    """What a prediction returns (``C_API_PREDICT_*``)."""

    RAW = 1  # the raw score, one value a row
    CONTRIB = 3  # TreeSHAP, one value a feature plus the expected value, a row


def _library() -> Any:
    """LightGBM's loaded C library, or None where this version keeps it elsewhere."""
    return getattr(getattr(lgb, "basic", None), "_LIB", None)


class DirectPredictor:
    """Raw scores and TreeSHAP of one booster through a single foreign call."""

    def __init__(self, booster: lgb.Booster) -> None:
        self.booster = booster  # holds the handle's owner alive
        self._features = booster.num_feature()
        self._iterations = int(booster.best_iteration)  # as Booster.predict passes it
        self._parameters: dict[int, bytes] = {}
        self._call: Any = None
        self._handle: Any = None
        lib = _library()
        handle = getattr(booster, "_handle", None)
        if lib is None or handle is None or booster.num_model_per_iteration() != 1:
            log.info("LightGBM predictions go through Booster.predict")
            return
        self._call = lib.LGBM_BoosterPredictForMat
        self._handle = handle

    # The C handle does not pickle (MLflow pickles a pyfunc model with its bundle): the
    # booster does, and a copy looks the call up again.
    def __getstate__(self) -> dict[str, Any]:
        return {"booster": self.booster}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["booster"])  # type: ignore[misc]

    @property
    def direct(self) -> bool:
        return self._call is not None

    def predict(self, x: FloatArray, output: Output, threads: int) -> FloatArray:
        """Raw scores, shape (n,), or TreeSHAP, shape (n, features + 1), of rows ``x``."""
        if self._call is None:
            return np.asarray(
                self.booster.predict(
                    x,
                    raw_score=output is Output.RAW,
                    pred_contrib=output is Output.CONTRIB,
                    num_threads=threads,
                ),
                dtype=np.float64,
            )
        x = np.ascontiguousarray(x, dtype=np.float64)
        rows, columns = x.shape
        if columns != self._features:
            raise ValueError(f"the model takes {self._features} features, got {columns}")
        width = 1 if output is Output.RAW else columns + 1
        out = np.empty(rows * width, dtype=np.float64)
        written = ctypes.c_int64(0)
        status = self._call(
            self._handle,
            ctypes.c_void_p(x.ctypes.data),
            ctypes.c_int(_DTYPE_FLOAT64),
            ctypes.c_int32(rows),
            ctypes.c_int32(columns),
            ctypes.c_int(_ROW_MAJOR),
            ctypes.c_int(output),
            ctypes.c_int(0),
            ctypes.c_int(self._iterations),
            ctypes.c_char_p(self._parameter(threads)),
            ctypes.byref(written),
            ctypes.c_void_p(out.ctypes.data),
        )
        if status != 0:
            raise lgb.basic.LightGBMError(_library().LGBM_GetLastError().decode())
        if written.value != out.size:
            raise ValueError(f"LightGBM wrote {written.value} predictions, expected {out.size}")
        return out if output is Output.RAW else out.reshape(rows, width)

    def _parameter(self, threads: int) -> bytes:
        found = self._parameters.get(threads)
        if found is None:
            found = self._parameters[threads] = f"num_threads={threads}".encode()
        return found
