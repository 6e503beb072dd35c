"""What the quote endpoints accept and answer, as msgspec structs.

The request's ``site``, ``months`` and ``claims`` rows are built from the contract in
:mod:`models.contract.spec` (names, kinds, ranges, choices, patterns), so the API
takes exactly the contract's fields and the OpenAPI document states its rules. Rows
reject unknown fields: a misspelt optional column would otherwise read as "not
reported" and price silently wrong.

Money is a JSON number rounded to the cent (``1234.56``); the cents always add up
(the rating plan's lines sum exactly to final minus base premium, and a group's
features to its line). Percentages
(``adjustment_pct``, ``band``) are in percent; rates shown as shares (0–1) say so.

Every struct here is a tree (it refers to no one that refers back), so none is tracked
by the garbage collector (``gc=False``): a 1,000-site portfolio's requests and answers
are hundreds of thousands of them, and collecting them cost about a quarter of its
pricing time.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

import msgspec
from msgspec import Meta, Struct

from models.contract import spec
from service.errors import ErrorDetail

MAX_MONTHS: Final = 120  # ten years: every month a long project's features read
MAX_CLAIMS: Final = 1000
MAX_TERM_MONTHS: Final = 60
MAX_BATCH: Final = 1000
# Far above any real premium; stops absurd inputs from overflowing the arithmetic.
MAX_BASE_PREMIUM_CNY: Final = 1e12
MAX_WHOLE: Final = 2**53  # the contract's largest whole number (exact in float64)

Money = float
# what a quote stored before the layered rating plan reads back as (schemas.Pricing)
LEGACY_PLAN: Final = "pre-2026.1"
Share = Annotated[float, Meta(ge=0.0, le=1.0)]


def _annotation(col: spec.Column) -> Any:
    """The type of one contract column, with its single-column rules as msgspec Meta."""
    rules: dict[str, Any] = {}
    base: Any
    if col.kind in ("str", "month"):
        base = str if col.choices is None else Literal[col.choices]
        if col.choices is None:
            if col.pattern is not None:
                rules["pattern"] = col.pattern
            if col.min_len is not None:
                rules["min_length"] = col.min_len
            if col.max_len is not None:
                rules["max_length"] = col.max_len
    elif col.kind == "date":
        base = dt.date
    else:
        base = float if col.kind == "float" else int
        cast = float if col.kind == "float" else int
        for name in ("ge", "le", "gt"):
            bound = getattr(col, name)
            if bound is not None:
                rules[name] = cast(bound)
        if col.kind == "int" and "le" not in rules:
            # The contract refuses whole numbers float64 cannot hold exactly ("is too
            # large"); saying so at decoding names the field like any other range.
            rules["le"] = MAX_WHOLE
    description = col.meaning + (f" ({col.zh})" if col.zh else "")
    if description:
        rules["description"] = description
    annotated = Annotated[base, Meta(**rules)] if rules else base
    return annotated | None if col.nullable else annotated


def _row_struct(
    table: str, name: str, doc: str, only: tuple[str, ...] | None = None
) -> type[Struct]:
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for col in spec.columns(table):
        if only is not None and col.name not in only:
            continue
        if col.nullable:
            fields.append((col.name, _annotation(col), None))
        else:
            fields.append((col.name, _annotation(col)))
    # Required fields first is what Python needs; kw_only lifts that, order stays the spec's.
    struct = msgspec.defstruct(
        name, fields, kw_only=True, forbid_unknown_fields=True, module=__name__, gc=False
    )
    struct.__doc__ = doc
    return struct


if TYPE_CHECKING:
    SiteIn = Struct
    MonthIn = Struct
    ClaimIn = Struct
    OtherClaimIn = Struct
else:
    SiteIn = _row_struct("sites", "SiteIn", "The site: one row of the contract's sites table.")
    MonthIn = _row_struct(
        "site_months",
        "MonthIn",
        "One month of smart-site data (contract's site_months); empty sensor values "
        "mean 'not reported'.",
    )
    ClaimIn = _row_struct("claims", "ClaimIn", "One past claim (contract's claims table).")
    OtherClaimIn = _row_struct(
        "claims",
        "OtherClaimIn",
        "A claim on the site from another insurer, counted: its incident date and "
        "severity, never its id or amounts (docs/contractor-record.md). Quotes by "
        "reference carry every other insurer's stored claims of the site this way.",
        only=("incident_date", "severity"),
    )


MAX_AWARDS: Final = 50
MAX_HEADCOUNT: Final = 100_000  # workers planned on one site


class SafetyAwardIn(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    """A safety award the site holds (安全文明工地), for a rate book's floating schedule."""

    level: Annotated[
        Literal["city", "provincial"], Meta(description="市级 (city) or 省级 (provincial).")
    ]
    awarded_on: Annotated[dt.date, Meta(description="When it was awarded; before the policy.")]


class PolicyIn(Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """The policy to price."""

    start_month: Annotated[
        str, Meta(pattern=spec.MONTH_PATTERN, description="First month of cover, YYYY-MM.")
    ]
    term_months: Annotated[int, Meta(ge=1, le=MAX_TERM_MONTHS, description="Months of cover.")]
    base_premium_cny: (
        Annotated[
            float,
            Meta(
                gt=0.0,
                le=MAX_BASE_PREMIUM_CNY,
                description="The insurer's own base premium; default: the tariff's.",
            ),
        ]
        | None
    ) = None
    safety_awards: Annotated[
        list[SafetyAwardIn],
        Meta(
            max_length=MAX_AWARDS,
            description="The site's safety awards before policy.start_month; read only "
            "when the insurer's rate book turns its floating schedule on.",
        ),
    ] = msgspec.field(default_factory=list)
    planned_headcount: (
        Annotated[
            int,
            Meta(
                ge=1,
                le=MAX_HEADCOUNT,
                description="Workers planned on site; read only when the insurer's rate "
                "book prices on headcount and the site has no month of data with workers "
                "(a quote before works start).",
            ),
        ]
        | None
    ) = None


class ContractorRecordIn(Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """The general contractor's record on its other sites, over the months before
    ``before_month`` (the policy start): counts, never amounts
    (docs/contractor-record.md). ``siterisk`` and quotes by reference work it out from
    the data; an insurer may send it with an inline quote."""

    before_month: Annotated[
        str,
        Meta(
            pattern=spec.MONTH_PATTERN,
            description="The record covers the months before this one: policy.start_month.",
        ),
    ]
    other_sites: Annotated[
        int, Meta(ge=0, le=MAX_WHOLE, description="Other sites with data before it.")
    ]
    worker_hours: Annotated[
        float, Meta(ge=0.0, le=1e15, description="Their attended worker-hours before it.")
    ]
    claims: Annotated[int, Meta(ge=0, le=MAX_WHOLE, description="Their claims before it.")]
    serious_claims: Annotated[
        int,
        Meta(
            ge=0,
            le=MAX_WHOLE,
            description="Of those, serious-injury and fatal claims (at most claims).",
        ),
    ]


class QuoteRequest(Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """One site to price: its contract rows from before the policy start, and the policy."""

    site: SiteIn
    months: Annotated[
        list[MonthIn],
        Meta(
            max_length=MAX_MONTHS,
            description=f"Up to {MAX_MONTHS} months of the site, all before "
            "policy.start_month; none only when the policy starts in or before the month "
            "works start (site.start_date).",
        ),
    ]
    policy: PolicyIn
    # UNSET (not sent) differs from [] (sent, none): claims criteria need claims data
    claims: (
        Annotated[
            list[ClaimIn],
            Meta(
                max_length=MAX_CLAIMS,
                description="The site's claims before the policy start. Sending it, even "
                "empty, states the claims are known: without it an incentive rule set's "
                "claims criteria are not evaluable (docs/contract-incentives.md, Quotes).",
            ),
        ]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    other_claims: Annotated[
        list[OtherClaimIn],
        Meta(
            max_length=MAX_CLAIMS,
            description="Other insurers' claims of the site before the policy start, "
            "counted (no ids, no amounts); the site's claims history features count them "
            "with claims.",
        ),
    ] = msgspec.field(default_factory=list)
    contractor_record: ContractorRecordIn | None = None


class QuoteReference(Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """A stored site to price (``/v1/feed``): its months before ``policy.start_month``
    (the latest 120), the caller's own claims from before the start, every other
    insurer's counted (``other_claims``) and the contractor's record, priced exactly as
    the same rows sent inline."""

    site_id: Annotated[str, Meta(pattern=spec.ID_PATTERN, description="A stored site.")]
    policy: PolicyIn


class QuoteBatchRequest(Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """A portfolio: each item is priced on its own; one bad item does not sink the rest.
    An item is a ``QuoteRequest`` (rows sent) or a ``QuoteReference`` (a stored site);
    an item that is neither is answered inside the 200, as that item's 422 naming its
    fields (docs/api.md)."""

    # The API's documentation only: the handler reads the envelope (BatchEnvelope) and
    # then each item as either shape, so the document says what the service does: any
    # item is taken, and the two shapes that price are named.
    items: Annotated[
        list[Any],
        Meta(
            min_length=1,
            max_length=MAX_BATCH,
            description=f"1–{MAX_BATCH} sites: each a QuoteRequest (its rows sent) or a "
            "QuoteReference (a site the platform fed, by site_id). An item that is "
            "neither is not priced: its place in the answer has status 422 and names its "
            "fields (items[i]…).",
            extra_json_schema={
                "items": {
                    "anyOf": [
                        {"$ref": "#/components/schemas/QuoteRequest"},
                        {"$ref": "#/components/schemas/QuoteReference"},
                        {"description": "Anything else: answered as that item's 422."},
                    ]
                }
            },
        ),
    ]


# What the batch handler reads the body as before it reads each item on its own.
BatchEnvelope = QuoteBatchRequest


# --- the answer ------------------------------------------------------------------------
# Labels and sentences (every ``label``, ``text``, ``note`` and ``reason``) are in the
# answer's ``language``. The pricer leaves them None and the stored quote keeps only the
# language-neutral facts; service.quotes.texts.render writes them wherever a quote is
# read (docs/api.md, Languages).


class Text(Struct, frozen=True, gc=False):
    zh: str
    en: str


class ModelRef(Struct, frozen=True, kw_only=True, gc=False):
    name: str
    version: str
    uri: str
    source: Literal["registry", "cache", "memory"]


class Risk(Struct, frozen=True, kw_only=True, gc=False):
    expected_loss_cny: Money
    expected_claims: float
    percentile: float  # 0 = safest of the model's peers
    loss_rate_per_10k_worker_hours: float  # the site's rate in an average month
    projected_worker_hours: float  # the whole term's, from the site's plan and scale
    # mean calendar-month factor over the covered months; about 1 for a twelve-month term
    season_factor: float = 1.0
    # the loss rate over the term (worker-hour weighted) over the rate in the start
    # month: how the site's stage and plan move its risk during the term
    trend_factor: float = 1.0
    # expected loss = loss rate × trend × season × projected worker-hours


class Layer(Struct, frozen=True, kw_only=True, gc=False):
    """One line of the rating plan: the premium before it times ``factor`` is the premium
    after it, so ``pct`` (= (factor − 1) × 100) is ``premium_effect_cny`` over
    ``premium_before_cny``, to rounding."""

    # a 工地画像 group, exposure_intensity, off_balance, floating, data_quality_gate, band
    layer: str
    kind: Literal["model_group", "exposure", "book", "floating", "gate", "band"]
    label: str | None = None
    factor: float
    pct: float
    premium_before_cny: Money
    premium_effect_cny: Money
    version: str | None  # the rule or model version the layer comes from
    text: str | None = None


class BandOut(Struct, frozen=True, kw_only=True, gc=False):
    min_pct: float
    max_pct: float
    version: str


class RateBookRef(Struct, frozen=True, kw_only=True, gc=False):
    """The insurer's rate book a quote was priced with (docs/rate-books.md)."""

    insurer_id: str
    version: str
    effective_from: dt.date
    effective_to: dt.date | None


class FloatingOut(Struct, frozen=True, kw_only=True, gc=False):
    """The rate book's floating schedule applied to this policy (docs/rate-books.md)."""

    pct: float  # accident_pct + award_pct
    factor: float  # 1 + pct / 100, at least 0
    accident_pct: float
    award_pct: float
    incidents: int  # the site's accidents in the schedule's lookback
    worst_grade: str | None  # general, larger, major, extraordinary; None: accident-free
    award: str | None  # city or provincial; None: no award in the lookback
    # the model's own-claims features, set to the book's average (TreeSHAP 0)
    neutralised_features: list[str]


class Pricing(Struct, frozen=True, kw_only=True, gc=False):
    """final = base × clip_band(gate(risk_factor × off_balance_factor)), to the cent;
    ``layers`` explain it line by line (docs/rating-plan.md)."""

    base_premium_cny: Money
    base_premium_source: Literal["tariff", "policy"]
    project_premium_cny: Money | None
    relativity: float  # the model's: exp(Σ TreeSHAP), the site's rate over the book's
    adjustment_pct: float
    final_premium_cny: Money
    band: BandOut
    tariff_version: str | None
    discount_withheld_cny: Money
    clipped: Literal["low", "high"] | None
    # Quotes stored before plan 2026.1 (a credibility-weighted adjustment) have none of
    # the fields below: they read back with plan_version LEGACY_PLAN and no layers.
    plan_version: str = LEGACY_PLAN
    # expected loss for the term over (book loss ratio × base premium)
    risk_factor: float | None = None
    book_loss_ratio: float | None = None
    exposure_intensity: float | None = None  # risk_factor / relativity
    off_balance_factor: float = 1.0
    layers: list[Layer] = msgspec.field(default_factory=list)
    # the insurer's own rate book; None: the shipped default rules (and quotes stored
    # before rate books)
    rate_book: RateBookRef | None = None
    # the book's floating schedule; None: not on (or no book)
    floating: FloatingOut | None = None
    # the book's prevention share × the final premium, to the cent: what the insurer
    # sets aside for accident-prevention services (事故预防服务); None without a book
    prevention_budget_cny: Money | None = None
    # where off_balance_factor comes from: "model" (found at training), "rate_book"
    # (the insurer's book's own, found over its quotes when it was activated; the book's
    # row says over how many) or "plan" (the plan's fixed factor); None: stored before
    # books had their own (docs/rate-books.md)
    off_balance_source: Literal["model", "rate_book", "plan"] | None = None


class Factor(Struct, frozen=True, kw_only=True, gc=False):
    feature: str
    group: str
    value: float | None
    value_label: str | None
    peer_median: float | None
    contribution: float  # TreeSHAP in the model's log space
    factor: float  # exp(contribution)
    premium_effect_cny: Money
    text: str | None = None  # a sentence for every factor


class MetricWindow(Struct, frozen=True, kw_only=True, gc=False):
    feature: str
    window_months: int | None  # 1, 3 or 6; None for a feature without a window
    value: float | None
    value_label: str | None
    peer_median: float | None  # None for a categorical feature: it has no median


class Metric(Struct, frozen=True, kw_only=True, gc=False):
    """One source metric with its windows folded together (e.g. training coverage over
    1, 3 and 6 months): its contribution and premium effect are the sums of its
    features', so the metrics' cents still add up to their group's line."""

    metric: str  # the features' common name without the window suffix
    group: str
    label: str | None = None
    features: list[str]
    windows: list[MetricWindow]
    contribution: float  # sum of the features' TreeSHAP contributions
    factor: float  # exp(contribution)
    premium_effect_cny: Money
    text: str | None = None


class GroupOut(Struct, frozen=True, kw_only=True, gc=False):
    group: str
    label: str | None = None
    factor: float
    premium_effect_cny: Money
    features: list[str]


class Explanation(Struct, frozen=True, kw_only=True, gc=False):
    base_value: float
    baseline_rate_per_10k_worker_hours: float
    log_relativity: float
    factors: list[Factor]
    groups: list[GroupOut]
    note: str | None = None
    # The factors folded by source metric, largest |contribution| first: what the
    # contractor page shows. Empty in quotes stored before it existed.
    metrics: list[Metric] = msgspec.field(default_factory=list)


class Recommendation(Struct, frozen=True, kw_only=True, gc=False):
    metric: str
    group: str
    label: str | None = None
    direction: Literal["increase", "decrease"]
    unit: str
    current: float
    target: float
    # incentive / peer_median: one metric's what-if; data_quality_gate: the reporting
    # that would unlock a withheld discount; combined: every what-if above at once
    target_source: Literal["incentive", "peer_median", "data_quality_gate", "combined"]
    target_reference: str
    estimated_premium_cny: Money
    estimated_saving_cny: Money
    basis: Literal["model_estimate"] = "model_estimate"
    text: str | None = None


class PreventionItem(Struct, frozen=True, kw_only=True, gc=False):
    """One accident-prevention service for the site (docs/prevention.md): the group and
    metric it aims at, the gap to the book's target, what closing it costs and what the
    model says closing it removes."""

    service: str  # its name in the book's prevention block
    label: str | None = None
    group: str  # the 工地画像 group of the metric
    group_label: str | None = None
    metric: str
    metric_label: str | None = None
    unit: str  # the metric's: "share" or "per 10k worker-hours"
    current: float  # the site's value (last six months, as recommendations measure it)
    target: float  # the book's target
    gap: float  # how far the site is from the target, in the metric's unit
    units: int  # whole units of the service: enough to close the gap, at most max_units
    unit_label: str | None = None  # what one unit is (a training session, an inspection, ...)
    reached: float  # the value those units bring the metric to (target, unless capped)
    cost_per_unit_cny: Money
    cost_cny: Money  # units × cost per unit
    # the site's expected loss over the term less that with the metric at ``reached``,
    # by the model (the recommendations' what-if), and that over the expected loss
    risk_reduction_cny: Money
    risk_reduction_pct: float
    # the quote's final premium less the what-if's, through the same rating plan
    premium_saving_cny: Money
    # None: bought; over_budget: did not fit in what was left; no_risk_reduction: the
    # model credits closing the gap with nothing
    not_funded: Literal["over_budget", "no_risk_reduction"] | None = None
    text: str | None = None


class PreventionPlanOut(Struct, frozen=True, kw_only=True, gc=False):
    """What the quote's prevention budget buys for this site (docs/prevention.md)."""

    budget_cny: Money  # = pricing.prevention_budget_cny
    share: float  # the book's prevention share
    rate_book: str  # <insurer>-<version> whose prevention block priced the services
    cost_cny: Money  # of the items bought
    remaining_cny: Money  # budget − cost
    selection: Literal["greedy_risk_reduction_per_yuan"] = "greedy_risk_reduction_per_yuan"
    items: list[PreventionItem]  # bought, in the order chosen
    not_funded: list[PreventionItem]  # gaps the budget does not buy, by service name
    text: str | None = None


class CriterionOut(Struct, frozen=True, kw_only=True, gc=False):
    name: str
    label: str | None = None
    metric: str
    column: str | None
    window_months: int | None
    operator: str
    threshold: float
    actual: float | None
    months_reported: int | None
    met: bool
    gap: float | None
    # incentive-rules/2 rule sets only (absent for 2025.1, whose answers replay as stored)
    outcome: Literal["met", "not_met", "not_evaluable"] | msgspec.UnsetType = msgspec.UNSET
    # why it is not evaluable (data missing: never met), only when it is not
    reason: str | msgspec.UnsetType = msgspec.UNSET
    # ``reason``'s language-neutral code (what the stored quote keeps)
    reason_code: str | msgspec.UnsetType = msgspec.UNSET


class TierOut(Struct, frozen=True, kw_only=True, gc=False):
    tier: str
    label: str | None = None
    description: str
    eligible: bool
    criteria: list[CriterionOut]


class Incentives(Struct, frozen=True, kw_only=True, gc=False):
    rule_set_version: str
    label: str
    tiers: list[TierOut]


class DataQuality(Struct, frozen=True, kw_only=True, gc=False):
    passed: bool
    discount_allowed: bool
    band_version: str
    window_months: int
    months: int
    device_online_rate: float | None
    data_completeness: float | None
    min_device_online_rate: float
    min_data_completeness: float
    reasons: list[str]
    # the first policy start from which this site's smart-site data can earn a discount
    # (set when it cannot yet: too few months of data, e.g. before works start)
    discount_possible_from: str | None = None


class MonthRef(Struct, frozen=True, kw_only=True, gc=False):
    month: str
    version: int


class ClaimRef(Struct, frozen=True, kw_only=True, gc=False):
    claim_id: str
    version: int


class QuoteInputs(Struct, frozen=True, kw_only=True, gc=False):
    """The stored rows a by-reference quote was priced from, version by version
    (``GET /v1/feed/.../history`` shows each); claims are the caller's own."""

    source: Literal["stored"] = "stored"
    site_id: str
    site_version: int
    months: list[MonthRef]
    claims: list[ClaimRef]
    claims_scope: Literal["own", "none"]


class QuoteResponse(Struct, frozen=True, kw_only=True, gc=False):
    quote_id: str
    created_at: dt.datetime
    site_id: str
    start_month: str
    term_months: int
    currency: str
    model: ModelRef
    risk: Risk
    pricing: Pricing
    explanation: Explanation
    recommendations: list[Recommendation]
    incentives: Incentives
    data_quality: DataQuality
    warnings: list[str]
    # the language of the labels and sentences: chosen by ?lang= or Accept-Language
    # (zh by default); None only in the stored, language-neutral facts
    language: Literal["zh", "en"] | None = None
    # what the prevention budget buys; None without a rate book (docs/prevention.md)
    prevention: PreventionPlanOut | None = None
    inputs: QuoteInputs | None = None  # set when priced by reference to stored data
    # the release of this service that priced it (quotes stored before it was recorded
    # have none): with the model and rule versions, what an audit needs to replay it
    service_version: str | None = None


class BatchItem(Struct, frozen=True, kw_only=True, gc=False):
    index: int
    status: int  # 201 priced and stored, or the 4xx the item alone would have got
    quote: QuoteResponse | None = None
    error: ErrorDetail | None = None


class QuoteBatchResponse(Struct, frozen=True, kw_only=True, gc=False):
    priced: int
    failed: int
    items: list[BatchItem]


class QuoteSummary(Struct, frozen=True, kw_only=True, gc=False):
    quote_id: str
    created_at: dt.datetime
    site_id: str
    district: str | None
    model_name: str
    model_version: str
    base_premium_cny: Money | None
    final_premium_cny: Money


class QuotePage(Struct, frozen=True, kw_only=True, gc=False):
    items: list[QuoteSummary]
    total: int
    limit: int
    offset: int
