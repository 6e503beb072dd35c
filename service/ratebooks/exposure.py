"""A quote's exposure on its rate book's base, and the tariff premiums on it
(docs/rate-books.md, "Exposure bases").

- ``contract_value``: the site's contract value (合同造价), as the shipped tariff;
- ``floor_area``: the site's gross floor area (建筑面积, ``site.floor_area_m2`` of the
  data contract); a site without one (0, civil works) cannot be priced on it;
- ``headcount``: the site's workers — the mean of ``avg_daily_workers`` over its latest
  three months of data, the window the model's worker-hours projection reads — or, before
  works start (no months, or none with workers), the planned headcount the insurer sends
  as ``policy.planned_headcount``.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any, Final

from models.pricing.ratebook import RateBook, tariff_premiums
from models.pricing.rulesets import Tariff
from service.errors import FieldError
from service.quotes.intake import Item

# months of data the headcount is the mean of, as the worker-hours projection
HEADCOUNT_MONTHS: Final = 3


def data_headcount(item: Item) -> float | None:
    """The site's mean daily workers over its latest months of data; None without any
    month with workers."""
    rows: list[Any] = sorted(item.request.months, key=lambda m: str(m.month))
    latest = [float(m.avg_daily_workers) for m in rows[-HEADCOUNT_MONTHS:]]
    mean = math.fsum(latest) / len(latest) if latest else 0.0
    return mean if mean > 0 else None


def exposure_of(item: Item, book: RateBook | None) -> float | None:
    """The item's exposure on the book's base (the contract value without a book); None
    when the site's data and the request hold none."""
    site: Any = item.request.site
    base = "contract_value" if book is None else book.exposure_base
    if base == "contract_value":
        return float(site.contract_value_cny)
    if base == "floor_area":
        area = float(site.floor_area_m2)
        return area if area > 0 else None
    planned = item.request.policy.planned_headcount
    found = data_headcount(item)
    if found is not None:
        return found
    return None if planned is None else float(planned)


def exposure_problems(item: Item, book: RateBook | None) -> list[FieldError]:
    """Why the book cannot price the item on its exposure base, naming the field."""
    if book is None or policy_gives_base(item) or exposure_of(item, book) is not None:
        return []
    w = item.where
    if book.exposure_base == "floor_area":
        return [
            FieldError(
                f"{w}site.floor_area_m2",
                f"the insurer's rate book {book.name} prices on floor area: the site has "
                "none (0); send the insurer's own policy.base_premium_cny",
            )
        ]
    return [
        FieldError(
            f"{w}policy.planned_headcount",
            f"the insurer's rate book {book.name} prices on headcount and the site has no "
            "month of data with workers: send the planned headcount",
        )
    ]


def policy_gives_base(item: Item) -> bool:
    return item.request.policy.base_premium_cny is not None


def premiums(
    item: Item, book: RateBook | None, tariff: Tariff, duration_months: float
) -> tuple[Decimal, Decimal]:
    """(the term's base premium, the project's premium) from the tariff on the item's
    exposure; :func:`exposure_problems` has refused an item without one."""
    exposure = exposure_of(item, book)
    assert exposure is not None, "exposure_problems refuses an item without exposure"
    base = "contract_value" if book is None else book.exposure_base
    term = item.request.policy.term_months
    return tariff_premiums(base, exposure, term, duration_months, tariff)
