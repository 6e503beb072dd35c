"""Rate book documents for the service's tests: the shipped default's, made an insurer's."""

from __future__ import annotations

import copy
from typing import Any

from models.pricing.ratebook import load_ratebook


def book_document(insurer_id: str, version: str, **changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(dict(load_ratebook().document))
    doc.update({"insurer_id": insurer_id, "version": version, "label": f"{insurer_id} {version}"})
    doc.update(changes)
    return doc


def with_rates(doc: dict[str, Any], factor: float) -> dict[str, Any]:
    """The same book with every per-mille rate times ``factor``."""
    out = copy.deepcopy(doc)
    for band in out["tariff"]["bands"]:
        band["rate_per_mille"] = round(band["rate_per_mille"] * factor, 6)
    return out
