"""Where a site stands in its class: the share of class peers safer than it, month by
month and over the months so far (docs/contract-incentives.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from models.incentives.figures import Running, figure, parts
from models.incentives.inputs import MonthRow, PeerRow
from models.incentives.rule_set import Ranking

# Why a rank has no figure: the site's figure has none, too few peers have one, or the
# site's class is unknown.
RankReason = Literal["no_exposure", "too_few_peers", "no_class"]


def percentile(value: float, others: Sequence[float], safer: str) -> float:
    """The share of peers safer than the site, ties counted half, in percent (0 = safest)."""
    if safer == "lower":
        better = sum(1 for o in others if o < value)
    else:
        better = sum(1 for o in others if o > value)
    ties = sum(1 for o in others if o == value)
    return 100.0 * (better + 0.5 * ties) / len(others)


def rank(
    ranking: Ranking, mine: float | None, others: Sequence[float]
) -> tuple[float | None, RankReason | None]:
    if mine is None:
        return None, "no_exposure"
    if len(others) < ranking.min_peers:
        return None, "too_few_peers"
    return percentile(mine, others, ranking.safer), None


@dataclass(frozen=True, slots=True)
class RankedMonth:
    month: str
    revision: int | None
    reported: bool
    value: float | None  # the month's percentile
    why: RankReason | None  # why it has none
    peers: int
    cumulative: float | None


@dataclass(frozen=True, slots=True)
class Ranks:
    months: tuple[RankedMonth, ...]
    used: tuple[str, ...]
    missing: tuple[str, ...]
    revisions: Mapping[str, int]
    value: float | None
    reason: RankReason | None


def ranks(
    ranking: Ranking,
    window: Sequence[str],
    rows: Mapping[str, MonthRow],
    class_peers: Mapping[str, Sequence[PeerRow]] | None,
) -> Ranks:
    """The site's percentiles in its class over ``window``, month by month and so far."""
    by_month = class_peers if class_peers is not None else {}
    mine = Running(ranking.metric)
    theirs: dict[str, Running] = {}
    months: list[RankedMonth] = []
    used: list[str] = []
    missing: list[str] = []
    revisions: dict[str, int] = {}
    last: tuple[float | None, RankReason | None] = (None, None)
    for month in window:
        month_peers: list[float] = []
        for peer in by_month.get(month, ()):
            p = parts(ranking.metric, ranking.column, peer.values)
            if p is None:
                continue
            theirs.setdefault(peer.site_id, Running(ranking.metric)).add(p)
            f = figure(ranking.metric, [p])
            if f is not None:
                month_peers.append(f)
        row = rows.get(month)
        own = None if row is None else parts(ranking.metric, ranking.column, row.values)
        revision = None if row is None else row.revision
        if own is None:
            missing.append(month)
        else:
            assert row is not None
            mine.add(own)
            used.append(month)
            revisions[month] = row.revision
        so_far = [f for f in (r.figure() for r in theirs.values()) if f is not None]
        last = rank(ranking, mine.figure(), so_far)
        if own is None:
            months.append(RankedMonth(month, revision, False, None, None, 0, last[0]))
            continue
        value, why = rank(ranking, figure(ranking.metric, [own]), month_peers)
        months.append(RankedMonth(month, revision, True, value, why, len(month_peers), last[0]))
    value, reason = last
    if class_peers is None:
        value, reason = None, "no_class"
    return Ranks(tuple(months), tuple(used), tuple(missing), revisions, value, reason)
