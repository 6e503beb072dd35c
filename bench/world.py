"""Quote requests for the benchmarks: every site of a synthetic world the model never
saw, priced from the month after its last data with up to twelve months of history,
as the contract's rows (the JSON an insurer's system would send)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import pandas as pd

from service.quotes.example import contract_rows
from training.synth import generate_world

HISTORY_MONTHS: Final = 12
SEED: Final = 90_210  # not a seed any training in the project uses


@dataclass(frozen=True)
class Requests:
    bodies: list[dict[str, Any]]  # one POST /v1/quotes body per site

    def batch(self, size: int) -> dict[str, Any]:
        """A portfolio of ``size`` items (the bodies again from the start if too few)."""
        return {"items": [self.bodies[i % len(self.bodies)] for i in range(size)]}


def quote_requests(n_sites: int, seed: int = SEED) -> Requests:
    """One request per site of a fresh synthetic world (sites with at least three
    months of data; the world is drawn a little larger so that ``n_sites`` remain)."""
    world = generate_world(int(n_sites * 1.3) + 10, seed=seed, months=36)
    months = world.site_months.sort_values(["site_id", "month"])
    by_site = dict(iter(months.groupby("site_id", sort=False)))
    claims = dict(iter(world.claims.groupby("site_id", sort=False)))
    bodies = []
    for site in contract_rows(world.sites, "sites"):
        history = by_site.get(site["site_id"])
        if history is None or len(history) < 3:
            continue
        last = str(history["month"].iloc[-1])
        start = (pd.Period(last, "M") + 1).strftime("%Y-%m")
        own = claims.get(site["site_id"])
        past = [] if own is None else contract_rows(own, "claims")
        bodies.append(
            {
                "site": site,
                "months": contract_rows(history.tail(HISTORY_MONTHS), "site_months"),
                "claims": [c for c in past if str(c["incident_date"]) < f"{start}-01"],
                "policy": {"start_month": start, "term_months": 12},
            }
        )
        if len(bodies) == n_sites:
            break
    if len(bodies) < n_sites:
        raise RuntimeError(f"the world gave only {len(bodies)} sites with history")
    return Requests(bodies)
