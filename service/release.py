"""Which release of this service is running: recorded in every quote, so that an audit
can tell a change of pricing code from a change of model or rules."""

from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError, version
from typing import Final

DISTRIBUTION: Final = "site-risk-pricing"


@functools.cache
def service_version() -> str:
    """The installed package's version (``0.0.0`` when running from a bare checkout)."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # pragma: no cover - the package is always installed
        return "0.0.0"
