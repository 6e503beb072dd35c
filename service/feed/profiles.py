"""Site profiles for district regulators (工地画像, 分级管理): a risk grade A–E, the
工地画像 groups against the district's sites, data quality and the recent trend.

Built from what the platform feeds and nothing else: the model scores each site as of
the month after its latest stored month, from its own site and site-month rows (alone,
as a quote prices it), with no claims (insurers' claims are theirs and never reach a
regulator; the model reads "no claims known"). No premium is computed, nothing about any
insurer is read, and the answers carry neither (a test scans every answer).

Scores are computed per district, for all its sites at once (features, one prediction
for the grade and trend, TreeSHAP only when a profile asks for the groups), and kept in
memory until any site of the district or any of its months changes (each change bumps
the site's ``data_revision``), or the model or rules change.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd
from sqlmodel import Session

from models import features as fdef
from models.contract import ContractData, empty_frame
from models.contract.spec import GROUP_LABELS, Group
from models.pricing import Band, DataQualityCheck
from models.pricing.grades import Direction, Grade, GradeRules
from models.pricing.site_history import data_quality, histories
from service.auth.principal import Principal
from service.errors import FieldError, InvalidInputError, NotFoundError
from service.feed.schemas import (
    GroupScore,
    ProfileQuality,
    SitePage,
    SiteProfile,
    SiteSummary,
    Trend,
    TrendPoint,
)
from service.feed.store import FeedStore
from service.model_provider import ModelSnapshot

# The 工地画像 groups a regulator sees; claims history is the insurers' business.
PROFILE_GROUPS: Final = tuple(g for g in Group if g is not Group.claims_history)
_COLUMNS: Final = ("worker_hours", "device_online_rate", "data_completeness")
_GROUP_INDEX: Final[dict[str, list[int]]] = {
    g.value: [i for i, f in enumerate(fdef.FEATURES) if f.group is g] for g in PROFILE_GROUPS
}
BASIS: Final = {
    "data": "sites and site_months fed by the smart-site platform",
    "not_used": "insurers' data: no claims are used and no premium is computed",
    "percentile": "the model's predicted risk per worker-hour among its training peers",
}


def month_label(number: int) -> str:
    return f"{number // 12:04d}-{number % 12 + 1:02d}"


@dataclass(frozen=True)
class SiteRisk:
    site: dict[str, Any]
    months_stored: int
    latest_month: str | None
    as_of: str | None
    percentile: float | None
    grade: Grade | None
    trend: tuple[tuple[str, float], ...]
    direction: Direction
    quality: DataQualityCheck | None


@dataclass
class DistrictView:
    stamp: tuple[int, int]
    sites: dict[str, SiteRisk]
    features: np.ndarray  # current-point features of the graded sites, in ``graded`` order
    graded: list[str]
    groups: dict[str, np.ndarray] | None = None  # group -> log contribution per graded site
    lock: threading.Lock = field(default_factory=threading.Lock)


_cache: dict[tuple[str, ...], DistrictView] = {}
_cache_lock = threading.Lock()


def _month_numbers(months: pd.Series[str]) -> np.ndarray:
    text = months.astype(str)
    years = text.str.slice(0, 4).astype(int).to_numpy(np.int64)
    return years * 12 + text.str.slice(5, 7).astype(int).to_numpy(np.int64) - 1


def _score(
    sites: pd.DataFrame,
    months: pd.DataFrame,
    snapshot: ModelSnapshot,
    rules: GradeRules,
    band: Band,
    stamp: tuple[int, int],
) -> DistrictView:
    shown: list[dict[str, Any]] = [
        {str(k): v for k, v in row.items()} for row in sites.to_dict("records")
    ]
    # Each site on its own, as a quote prices it: a contractor's other sites would
    # count only where they share the district, so a grade would depend on the batch.
    sites = sites.assign(contractor_id="site:" + sites["site_id"])
    data = ContractData(sites=sites, site_months=months, claims=empty_frame("claims"))
    numbers = pd.Series(_month_numbers(months["month"]), index=months["site_id"].to_numpy())
    span = numbers.groupby(level=0).agg(["min", "max", "count"])
    targets: list[tuple[str, str]] = []
    current: dict[str, int] = {}
    points: dict[str, list[int]] = {}
    counts = dict(zip(span.index, span["count"].astype(int), strict=True))
    lasts = dict(zip(span.index, span["max"].astype(int), strict=True))
    for sid, first, last in zip(span.index, span["min"], span["max"], strict=True):
        as_of = int(last) + 1
        at = [m for m in range(as_of - rules.trend_points + 1, as_of + 1) if m > first]
        points[sid] = list(range(len(targets), len(targets) + len(at)))
        targets += [(sid, month_label(m)) for m in at]
        current[sid] = len(targets) - 1
    percentile = np.zeros(0)
    x = np.zeros((0, len(fdef.FEATURE_NAMES)))
    if targets:
        frame = fdef.build_features(
            data.sites, data.site_months, data.claims,
            targets=pd.DataFrame(targets, columns=["site_id", "month"]),
        )  # fmt: skip
        x = fdef.to_matrix(frame)
        percentile = snapshot.bundle.percentile(snapshot.bundle.loss_rate(x))
    graded = list(current)
    history = dict(zip(graded, histories(data, graded, _COLUMNS), strict=True))
    out: dict[str, SiteRisk] = {}
    for row in shown:
        sid = str(row["site_id"])
        if sid not in current:
            out[sid] = SiteRisk(row, 0, None, None, None, None, (), "unknown", None)
            continue
        now = current[sid]
        trend = tuple((targets[i][1], float(percentile[i])) for i in points[sid])
        label = targets[now][1]
        out[sid] = SiteRisk(
            site=row,
            months_stored=int(counts[sid]),
            latest_month=month_label(int(lasts[sid])),
            as_of=label,
            percentile=float(percentile[now]),
            grade=rules.grade(float(percentile[now])),
            trend=trend,
            direction=rules.direction(trend[0][1], trend[-1][1], len(trend)),
            quality=data_quality(band, history[sid], label),
        )
    return DistrictView(
        stamp=stamp,
        sites=dict(sorted(out.items())),
        features=x[[current[s] for s in graded]] if graded else x,
        graded=graded,
    )


def _groups(view: DistrictView, snapshot: ModelSnapshot) -> dict[str, np.ndarray]:
    with view.lock:
        if view.groups is None:
            contrib = (
                snapshot.bundle.contributions(view.features)
                if len(view.graded)
                else np.zeros((0, len(fdef.FEATURE_NAMES) + 1))
            )
            view.groups = {g: contrib[:, idx].sum(axis=1) for g, idx in _GROUP_INDEX.items()}
        return view.groups


def _peer_percentile(values: np.ndarray, k: int) -> float:
    """Where value k stands among the others (0 = lowest), ties counted half."""
    others = np.delete(values, k)
    if not len(others):
        return 50.0
    v = values[k]
    less = float(np.sum(others < v))
    equal = float(np.sum(others == v))
    return 100.0 * (less + 0.5 * equal) / len(others)


class ProfileService:
    def __init__(
        self, session: Session, snapshot: ModelSnapshot, rules: GradeRules, band: Band
    ) -> None:
        self.store = FeedStore(session)
        self.snapshot = snapshot
        self.rules = rules
        self.band = band

    # -- the district's scores ---------------------------------------------------------
    def district(self, district: str) -> DistrictView:
        stamp = self.store.district_stamp(district)
        key = (district, self.snapshot.uri, self.rules.version, self.band.version)
        with _cache_lock:
            view = _cache.get(key)
        if view is not None and view.stamp == stamp:
            return view
        sites, months = self.store.district_data(district)
        view = _score(sites, months, self.snapshot, self.rules, self.band, stamp)
        with _cache_lock:
            # Views of an older model or rule version are dropped with them.
            for old in [k for k in _cache if k[0] == district and k != key]:
                del _cache[old]
            _cache[key] = view
        return view

    def _model(self) -> dict[str, str]:
        return {"name": self.snapshot.name, "version": self.snapshot.version}

    # -- listing -----------------------------------------------------------------------
    def page(
        self,
        principal: Principal,
        *,
        district: str | None,
        grade: str | None,
        limit: int,
        offset: int,
    ) -> SitePage:
        if district is not None and district not in principal.districts:
            raise NotFoundError(f"district {district!r} is not among this key's districts")
        known = [g.grade for g in self.rules.grades]
        if grade is not None and grade not in known:
            raise InvalidInputError(
                f"the request is not valid: grade: {grade!r} is not one of {', '.join(known)}",
                fields=[FieldError("grade", f"one of {', '.join(known)}")],
            )
        risks: list[SiteRisk] = []
        for d in [district] if district else list(principal.districts):
            risks += self.district(d).sites.values()
        if grade is not None:
            risks = [r for r in risks if r.grade is not None and r.grade.grade == grade]
        # The riskiest first: where inspections go; sites without data last.
        risks.sort(key=lambda r: (r.percentile is None, -(r.percentile or 0.0), r.site["site_id"]))
        items = [
            SiteSummary(
                site_id=r.site["site_id"],
                district=r.site["district"],
                project_type=r.site["project_type"],
                contractor_id=r.site["contractor_id"],
                as_of=r.as_of,
                grade=r.grade.grade if r.grade else None,
                percentile=r.percentile,
                data_quality_passed=r.quality.passed if r.quality else None,
                trend=r.direction,
            )
            for r in risks[offset : offset + limit]
        ]
        return SitePage(
            items=items,
            total=len(risks),
            limit=limit,
            offset=offset,
            grade_rules=self.rules.version,
            model=self._model(),
        )

    # -- one site ------------------------------------------------------------------------
    def profile(self, site_id: str, principal: Principal) -> SiteProfile:
        row = self.store.site(site_id)
        if row is None or row["district"] not in principal.districts:
            raise NotFoundError(f"no site {site_id!r} in this key's districts")
        view = self.district(str(row["district"]))
        risk = view.sites[site_id]
        groups: list[GroupScore] = []
        if risk.grade is not None:
            by_group = _groups(view, self.snapshot)
            k = view.graded.index(site_id)
            for g in PROFILE_GROUPS:
                values = by_group[g.value]
                peer = _peer_percentile(values, k)
                groups.append(
                    GroupScore(
                        group=g.value,
                        label=dict(GROUP_LABELS[g]),
                        factor=math.exp(float(values[k])),
                        peer_median_factor=math.exp(float(np.median(values))),
                        peer_percentile=peer,
                        level=self.rules.level(peer),
                    )
                )
        site = risk.site
        q = risk.quality
        return SiteProfile(
            site_id=site_id,
            district=site["district"],
            project_type=site["project_type"],
            contractor_id=site["contractor_id"],
            start_date=pd.Timestamp(site["start_date"]).date().isoformat(),
            planned_end_date=pd.Timestamp(site["planned_end_date"]).date().isoformat(),
            hazardous_works=int(site["hazardous_works"]),
            over_scale_hazardous_works=int(site["over_scale_hazardous_works"]),
            tower_cranes=int(site["tower_cranes"]),
            as_of=risk.as_of,
            grade=risk.grade.grade if risk.grade else None,
            grade_label={"zh": risk.grade.zh, "en": risk.grade.en} if risk.grade else None,
            percentile=risk.percentile,
            grade_rules=self.rules.version,
            model=self._model(),
            district_sites=len(view.sites),
            groups=groups,
            data_quality=(
                ProfileQuality(
                    passed=q.passed,
                    window_months=q.window_months,
                    months=q.months,
                    device_online_rate=_finite(q.device_online_rate),
                    data_completeness=_finite(q.data_completeness),
                    reasons=list(q.reasons),
                    months_stored=risk.months_stored,
                    latest_month=risk.latest_month,
                )
                if q is not None
                else None
            ),
            trend=Trend(
                direction=risk.direction,
                change_points=(risk.trend[-1][1] - risk.trend[0][1]) if risk.trend else None,
                points=[
                    TrendPoint(as_of=m, percentile=p, grade=self.rules.grade(p).grade)
                    for m, p in risk.trend
                ],
            ),
            basis={**BASIS, "grade_rules": self.rules.label},
        )


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)
