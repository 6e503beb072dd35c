"""A contractor's record on its other sites, as the features read it.

Four totals over the contractor's sites other than the one priced, from the months
before the target month: how many of them had started reporting, their attended
worker-hours, and their claims and serious claims (serious injury or fatality) by
incident date. Counts, never amounts: a record pools every insurer's claims, and an
insurer's amounts (paid, reserves) stay its own (docs/contractor-record.md).

``build.py`` works the totals out from a folder for every target at once; a quote
carries them (``contractor_record``, or the feed's stored rows for a quote by
reference, through ``build.py`` again). Either way the features come from the one
function below, through ``models.features.arithmetic``.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
PER_10K: Final = 1e4
STATS: Final = (
    "contractor_other_sites",
    "contractor_other_claims_per_10kwh",
    "contractor_other_serious_per_10kwh",
)


class Record(NamedTuple):
    """The totals, each a float or an array of one value per target."""

    other_sites: F64 | float
    worker_hours: F64 | float
    claims: F64 | float
    serious_claims: F64 | float


NONE: Final = Record(0.0, 0.0, 0.0, 0.0)  # a contractor with no other site (or not sent)


def contractor_terms(stat: str, record: Record) -> tuple[F64 | float, F64 | float, float]:
    """One contractor feature from a record, as numerator, denominator and scale (the
    feature is numerator / denominator x scale, NaN without exposure): the other sites,
    and claims and serious claims per 10k worker-hours on them."""
    if stat == "contractor_other_sites":
        return record.other_sites, 1.0, 1.0
    if stat == "contractor_other_claims_per_10kwh":
        return record.claims, record.worker_hours, PER_10K
    if stat == "contractor_other_serious_per_10kwh":
        return record.serious_claims, record.worker_hours, PER_10K
    raise KeyError(stat)
