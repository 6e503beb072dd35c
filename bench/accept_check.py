"""The rating plan judged end to end, as issue 16's outside check does it: train on a
world's data before a month, price every site active in that month inline for a
12-month policy, and hold the premiums against the world's truth table.

    python -m bench.accept_check --world synth --sites 3000 --seed 11 --cutoff 2025-01
    python -m bench.accept_check --world alien --sites 3000 --seed 11 --cutoff 2025-01

``synth`` is the project's generator (``siterisk data generate``); ``alien`` is the
independent world of ``tests/fixtures/alien_world.py``, which shares no code with it.
Printed: loss-ratio equalisation (0 = the tariff alone, 1 = the true relativity clipped
to the band), the mean gap to the ideal adjustment, served expected loss over the truth,
loss ratios by true-risk quintile, the explanation identities, and pre-start quotes for
every site. A benchmark that prints figures, not a test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.contract import load_folder
from service.model_provider import ModelSnapshot
from service.quotes.example import contract_rows
from service.quotes.intake import Item, read_item
from service.quotes.pricing_service import Outcome, PricedQuote, QuotePricer
from training.pipeline import train_from_data
from training.synth import generate_world

F64 = npt.NDArray[np.float64]
BAND = 0.30
TERM = 12
CHUNK = 500


def world_frames(kind: str, sites: int, seed: int) -> dict[str, pd.DataFrame]:
    """Sites, site_months, claims and truth of a 48-month world from 2022-01."""
    if kind == "alien":
        sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))
        from fixtures.alien_world import make_alien_world

        frames: dict[str, pd.DataFrame] = make_alien_world(sites, seed, months=48, start="2022-01")
    else:
        w = generate_world(sites, seed=seed, months=48, start="2022-01")
        frames = {"sites": w.sites, "site_months": w.site_months, "claims": w.claims,
                  "truth": w.truth}  # fmt: skip
    truth = frames["truth"].copy()
    truth["site_id"] = truth["site_id"].astype(str)
    truth["month"] = truth["month"].astype(str)
    months = frames["site_months"].copy()
    months["month"] = months["month"].astype(str)
    return {**frames, "truth": truth, "site_months": months}


def export_before(frames: dict[str, pd.DataFrame], cutoff: str, folder: Path) -> Path:
    """The contract folder an export taken at ``cutoff`` would hold."""
    claims = frames["claims"]
    days = pd.to_datetime(claims["incident_date"])
    frames["sites"].to_csv(folder / "sites.csv", index=False)
    months = frames["site_months"]
    months[months["month"] < cutoff].to_csv(folder / "site_months.csv", index=False)
    claims[days < pd.Timestamp(f"{cutoff}-01")].to_csv(folder / "claims.csv", index=False)
    return folder


def _month(value: Any) -> str:
    return str(value)[:7]


def _first_day(month: str) -> datetime:
    return datetime(int(month[:4]), int(month[5:]), 1, tzinfo=UTC)


class Requests:
    """Inline quote bodies from a contract folder's rows."""

    def __init__(self, folder: Path) -> None:
        data = load_folder(folder)
        self.sites = data.sites.set_index("site_id")
        self.months = dict(tuple(data.site_months.groupby("site_id")))
        self.claims = dict(tuple(data.claims.groupby("site_id"))) if len(data.claims) else {}
        self.empty_months = data.site_months.iloc[:0]
        self.empty_claims = data.claims.iloc[:0]

    def body(self, site: str, start: str, *, history: bool = True) -> dict[str, Any]:
        months, claims = self.empty_months, self.empty_claims
        if history:
            months = self.months.get(site, months)
            months = months[months["month"] < start].sort_values("month").tail(36)
            claims = self.claims.get(site, claims)
            claims = claims[pd.to_datetime(claims["incident_date"]) < pd.Timestamp(f"{start}-01")]
        return {
            "site": contract_rows(self.sites.loc[[site]].reset_index(), "sites")[0],
            "months": contract_rows(months, "site_months"),
            "claims": contract_rows(claims, "claims"),
            "policy": {"start_month": start, "term_months": TERM},
        }


def price(
    pricer: QuotePricer, snapshot: ModelSnapshot, items: Sequence[Item], now: datetime
) -> list[Outcome]:
    out: list[Outcome] = []
    for lo in range(0, len(items), CHUNK):
        out += pricer.price(items[lo : lo + CHUNK], snapshot, now=now)
    return out


def dispersion(truth: F64, premium: F64) -> float:
    """D(p): the variance of log(T / p) across sites, weighted by p (T floored at a
    tiny positive amount: a site with no expected loss at all is simply the cheapest)."""
    t = np.maximum(truth, 1e-9)
    w = premium / premium.sum()
    log = np.log(t / premium)
    mean = float(np.sum(w * log))
    return float(np.sum(w * (log - mean) ** 2))


def report(quotes: list[PricedQuote], truth: F64) -> list[str]:
    p = [q.response.pricing for q in quotes]
    base = np.array([x.base_premium_cny for x in p])
    final = np.array([x.final_premium_cny for x in p])
    served = np.array([q.response.risk.expected_loss_cny for q in quotes])
    gated = np.array([not q.response.data_quality.discount_allowed for q in quotes])
    c = truth.sum() / base.sum()
    r = truth / (c * base)
    oracle = base * np.clip(r, 1 - BAND, 1 + BAND)
    d_base = dispersion(truth, base)

    def equalisation(premium: F64) -> float:
        return (d_base - dispersion(truth, premium)) / (d_base - dispersion(truth, oracle))

    ideal = np.clip(r, np.where(gated, 1.0, 1 - BAND), 1 + BAND) - 1
    gap = float(np.mean(np.abs(final / base - 1 - ideal)))
    gate_only = base * np.clip(np.where(gated & (r < 1), 1.0, r), 1 - BAND, 1 + BAND)
    quintile = pd.qcut(r, 5, labels=False)
    lr_base = [truth[quintile == k].sum() / base[quintile == k].sum() / c for k in range(5)]
    book = truth.sum() / final.sum()
    lr_final = [truth[quintile == k].sum() / final[quintile == k].sum() / book for k in range(5)]
    bad_sum = bad_pct = bad_band = bad_gate = 0
    for x, q in zip(p, quotes, strict=True):
        effects = [round(line.premium_effect_cny * 100) for line in x.layers]
        bad_sum += sum(effects) != round(x.final_premium_cny * 100) - round(
            x.base_premium_cny * 100
        )
        running = x.base_premium_cny
        for line in x.layers:
            if line.premium_effect_cny and running > 0:
                bad_pct += abs(100 * line.premium_effect_cny / running - line.pct) > 0.1
            running = round(running + line.premium_effect_cny, 2)
        adj = 100 * (x.final_premium_cny / x.base_premium_cny - 1)
        bad_band += not (x.band.min_pct - 1e-9 <= adj <= x.band.max_pct + 1e-9)
        bad_gate += (not q.response.data_quality.discount_allowed) and adj < 0
    hiding = sum(
        1
        for q in quotes
        for rec in q.response.recommendations
        if rec.direction == "decrease"
        and rec.metric in ("hazards_found", "device_online_rate", "data_completeness")
    )
    reasons = Counter(x for q in quotes for x in q.response.data_quality.reasons)
    adjustment = final / base - 1
    return [
        f"sites priced                         {len(quotes):,}",
        f"loss-ratio equalisation              {equalisation(final):.3f}"
        f"   (the true relativity under today's gate: {equalisation(gate_only):.3f})",
        f"mean gap to the ideal adjustment     {100 * gap:.1f} pp"
        f"   (the tariff alone: {100 * float(np.mean(np.abs(ideal))):.1f} pp)",
        f"served expected loss / truth         {served.sum() / truth.sum():.3f}",
        f"discounts withheld by the gate       {gated.mean():.0%}   {dict(reasons.most_common(4))}",
        f"book final / tariff total            {final.sum() / base.sum():.3f}",
        "loss ratio by true-risk quintile (book = 1)",
        f"  tariff alone                       {' / '.join(f'{v:.2f}' for v in lr_base)}",
        f"  final premium                      {' / '.join(f'{v:.2f}' for v in lr_final)}",
        f"adjustments |x| < 10%                {np.mean(np.abs(adjustment) < 0.1):.0%}",
        f"lines not adding up / pct off > 0.1 pp / outside the band / discount past the gate"
        f"   {bad_sum} / {bad_pct} / {bad_band} / {bad_gate}",
        f"recommendations that would hide risk {hiding}",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.accept_check", description=__doc__)
    parser.add_argument("--world", choices=("synth", "alien"), default="synth")
    parser.add_argument("--sites", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--cutoff", default="2025-01", help="train before it, price it")
    args = parser.parse_args(argv)

    frames = world_frames(args.world, args.sites, args.seed)
    truth_table = frames["truth"]
    months = sorted(truth_table["month"].unique())
    term = months[months.index(args.cutoff) : months.index(args.cutoff) + TERM]
    with tempfile.TemporaryDirectory() as tmp:
        folder = export_before(frames, args.cutoff, Path(tmp))
        began = time.perf_counter()
        outcome = train_from_data(load_folder(folder))
        print(f"trained on the months before {args.cutoff} in {time.perf_counter() - began:.0f} s;"
              f" rating {outcome.bundle.meta.rating}")  # fmt: skip
        requests = Requests(folder)
    snapshot = ModelSnapshot(
        bundle=outcome.bundle, name="accept", version="1", uri="models:/accept/1",
        requested_uri="models:/accept@champion", source="memory",
    )  # fmt: skip
    pricer = QuotePricer()
    active = sorted(set(truth_table.loc[truth_table["month"] == args.cutoff, "site_id"]))
    items = [read_item(requests.body(s, args.cutoff), k) for k, s in enumerate(active)]
    began = time.perf_counter()
    outcomes = price(pricer, snapshot, items, _first_day(args.cutoff))
    print(f"priced {len(items):,} sites inline in {time.perf_counter() - began:.1f} s")
    quotes = [o for o in outcomes if isinstance(o, PricedQuote)]
    refused = [o for o in outcomes if not isinstance(o, PricedQuote)]
    if refused:
        print(f"refused {len(refused)}: {[o.error.message for o in refused[:3]]}")
    totals = truth_table[truth_table["month"].isin(term)].groupby("site_id")["expected_loss_cny"]
    true_loss = totals.sum()
    truth = np.array([float(true_loss.get(q.item.request.site.site_id, 0.0)) for q in quotes])  # type: ignore[attr-defined]
    for line in report(quotes, truth):
        print(line)

    # every site before its works start: no months, bought in the month works start
    pre = []
    for site, row in requests.sites.iterrows():
        start = _month(row["start_date"])
        item = read_item(requests.body(str(site), start, history=False), 0)
        pre += price(pricer, snapshot, [item], _first_day(start))
    priced = [o for o in pre if isinstance(o, PricedQuote)]
    discounted = sum(
        o.response.pricing.final_premium_cny < o.response.pricing.base_premium_cny for o in priced
    )
    stated = sum(any("before works start" in w for w in o.response.warnings) for o in priced)
    print(f"pre-start quotes: {len(pre):,} asked, {len(priced):,} priced, {discounted} discounted,"
          f" {stated:,} saying why")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
