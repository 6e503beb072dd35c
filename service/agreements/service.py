"""Incentive agreements, between the controllers and the store: register, accept, read,
evaluate from the feed, settle and replay (docs/contract-incentives.md, "API").

Decisions the issue leaves open, made here:

- an owner registers agreements only for sites the feed names it the owner of, and the
  contractor must be the site's contractor as the feed has it;
- a version takes effect when both owner and contractor have accepted it; a new
  version (``replaces``) may replace only the latest version of its series and only
  before a statement was issued; once it takes effect the one it replaces is
  superseded;
- the months evaluated "so far" run through the newest month the feed holds for any
  site (how far the platform has reported), so a site that stops reporting shows its
  months as not reported rather than as not yet due;
- a period is closed once its last month is over on the Shanghai calendar; a statement
  is issued once, on demand by the owner or the contractor of an agreement in effect, or
  by ``siterisk agreements settle-due`` (run daily) for every one whose period closed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import Any, Final
from zoneinfo import ZoneInfo

import msgspec
from sqlmodel import Session

from models.incentives import (
    AgreementTerms,
    CriterionEvaluation,
    PeriodEvaluation,
    RuleSet,
    RuleSetError,
    Statement,
    evaluate_period,
    load_rule_set,
    period_months,
    settle,
    terms_from_json,
    terms_to_json,
    validate_terms,
)
from models.pricing.rulesets import RuleError
from service.agreements.feed_inputs import (
    EvaluationInputs,
    latest_fed_month,
    read_inputs,
    stored_row_versions,
)
from service.agreements.schemas import (
    Acceptance,
    AgreementIn,
    AgreementOut,
    BreachOut,
    CriterionOut,
    EvaluationOut,
    MonthOut,
    ReplayOut,
    StatementInfo,
    TierOut,
)
from service.agreements.store import AgreementState, AgreementStore
from service.auth.principal import Principal, Role
from service.db.tables import IncentiveAgreement, IncentiveStatement
from service.errors import (
    ConflictError,
    FieldError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
)
from service.feed.intake import decode
from service.feed.store import FeedStore

MAX_PERIOD_MONTHS: Final = 60
SHANGHAI: Final = ZoneInfo("Asia/Shanghai")
Clock = Callable[[], dt.datetime]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _invalid(field: str, message: str) -> InvalidInputError:
    return InvalidInputError(
        f"the request is not valid: {field}: {message}", fields=[FieldError(field, message)]
    )


def _not_found(agreement_id: str) -> NotFoundError:
    return NotFoundError(f"no agreement {agreement_id!r}")


def canonical(document: Any) -> bytes:
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def _party(principal: Principal) -> tuple[str, str] | None:
    if principal.role is Role.owner and principal.owner_id:
        return "owner", principal.owner_id
    if principal.role is Role.contractor and principal.contractor_id:
        return "contractor", principal.contractor_id
    return None


class AgreementService:
    def __init__(self, session: Session, *, clock: Clock = _utcnow) -> None:
        self.session = session
        self.store = AgreementStore(session)
        self.clock = clock

    # -- registering and accepting -------------------------------------------------------
    def register(self, body: Any, principal: Principal) -> AgreementOut:
        if principal.role is not Role.owner or not principal.owner_id:
            raise ForbiddenError("only owner keys register agreements")
        data: AgreementIn = decode(body, AgreementIn)
        self._period(data.first_month, data.last_month)
        site = FeedStore(self.session).site(data.site_id)
        if site is None or site["owner_id"] != principal.owner_id:
            raise _invalid(
                "site_id", f"no stored site {data.site_id!r} of owner {principal.owner_id}"
            )
        if site["contractor_id"] != data.contractor_id:
            raise _invalid("contractor_id", f"site {data.site_id}'s contractor is another one")
        rule_set = _rule_set(data.rule_set_version)
        terms = _terms(data.terms, rule_set)
        series_id, version, replaces = None, 1, None
        if data.replaces is not None:
            old = self.store.visible(data.replaces, principal)
            if old is None:
                raise _invalid("replaces", f"no agreement {data.replaces!r}")
            if old.site_id != data.site_id:
                raise _invalid("replaces", "a new version keeps the site of the one it replaces")
            series = self.store.series(old.series_id)
            if series[-1].id != old.id:
                raise ConflictError(
                    f"agreement {old.id} was replaced by version {series[-1].version} "
                    f"({series[-1].id}); replace that one"
                )
            if self.store.statement_of(old.id) is not None:
                raise ConflictError(f"agreement {old.id} is settled; it cannot be replaced")
            series_id, version, replaces = old.series_id, old.version + 1, old.id
        document = {
            "site_id": data.site_id,
            "owner_id": principal.owner_id,
            "contractor_id": data.contractor_id,
            "insurer_id": data.insurer_id,
            "first_month": data.first_month,
            "last_month": data.last_month,
            "rule_set_version": rule_set.version,
            "terms": data.terms,
        }
        row = IncentiveAgreement(
            version=version,
            series_id="",
            replaces_id=replaces,
            site_id=data.site_id,
            owner_id=principal.owner_id,
            contractor_id=data.contractor_id,
            insurer_id=data.insurer_id,
            first_month=data.first_month,
            last_month=data.last_month,
            ruleset_version=terms.rule_set_version,
            terms=terms_to_json(terms),
            document_hash="sha256:" + hashlib.sha256(canonical(document)).hexdigest(),
            created_by_key=principal.key_id,
        )
        row.series_id = series_id or row.id
        return self._out(self.store.state(self.store.add(row)))

    def accept(self, agreement_id: str, principal: Principal) -> AgreementOut:
        row = self._visible(agreement_id, principal)
        party = _party(principal)
        if party is None:
            raise ForbiddenError("only the owner and the contractor accept an agreement")
        state = self.store.state(row)
        if state.newer:
            raise ConflictError(
                f"agreement {row.id} was replaced by version {state.newer[-1].version} "
                f"({state.newer[-1].id}); accept that one"
            )
        self.store.accept(row.id, party[0], party[1], principal.key_id)
        return self._out(self.store.state(row))

    # -- reading -------------------------------------------------------------------------
    def get(self, agreement_id: str, principal: Principal) -> AgreementOut:
        return self._out(self.store.state(self._visible(agreement_id, principal)))

    def listed(self, principal: Principal, site_id: str | None) -> list[AgreementOut]:
        return [
            self._out(self.store.state(r)) for r in self.store.listed(principal, site_id=site_id)
        ]

    def evaluate(
        self, agreement_id: str, principal: Principal, through: str | None = None
    ) -> EvaluationOut:
        """The criteria over the period's months so far (through ``through`` if given)."""
        row = self._visible(agreement_id, principal)
        rule_set = _rule_set(row.ruleset_version, field="rule_set_version")
        latest = latest_fed_month(self.session)
        end = min(m for m in (row.last_month, latest, through) if m is not None)
        months = period_months(row.first_month, end) if end >= row.first_month else ()
        inputs = read_inputs(self.session, row, rule_set, months)
        evaluation = _evaluate(rule_set, inputs) if months else None
        return _evaluation_out(row, inputs, evaluation)

    # -- settling ------------------------------------------------------------------------
    def settle(self, agreement_id: str, principal: Principal) -> StatementInfo:
        row = self._visible(agreement_id, principal)
        if _party(principal) is None:
            raise ForbiddenError("only the owner and the contractor have a statement issued")
        state = self.store.state(row)
        if state.statement is not None:
            return _info(state.statement, created=False)
        if state.status != "in_effect":
            raise ConflictError(
                f"agreement {row.id} is {state.status.replace('_', ' ')}; only an agreement "
                "in effect is settled"
            )
        if self._month() <= row.last_month:
            raise ConflictError(
                f"the period runs through {row.last_month}; it can be settled once that "
                "month is over (Shanghai time)"
            )
        return self._issue(row, principal.key_id)

    def settle_due(self) -> list[StatementInfo]:
        """Issue the statement of every agreement in effect whose period is over and
        that has none yet: what the end of a period does (``siterisk agreements
        settle-due``, run daily). Statements issued this way name no key."""
        issued = []
        for row in self.store.unsettled_before(self._month()):
            if self.store.state(row).status == "in_effect":
                issued.append(self._issue(row, None))
        return issued

    def _month(self) -> str:
        """The current month on the Shanghai calendar."""
        return self.clock().astimezone(SHANGHAI).strftime("%Y-%m")

    def _issue(self, row: IncentiveAgreement, key_id: int | None) -> StatementInfo:
        rule_set = _rule_set(row.ruleset_version, field="rule_set_version")
        inputs = read_inputs(
            self.session, row, rule_set, period_months(row.first_month, row.last_month)
        )
        statement = _statement(row, rule_set, inputs)
        stored, created = self.store.add_statement(
            IncentiveStatement(
                agreement_id=row.id,
                content_hash=statement.content_hash,
                body=statement.canonical_json().decode(),
                inputs=inputs.to_json(),
                issued_by_key=key_id,
            )
        )
        return _info(stored, created=created)

    def statement(self, agreement_id: str, principal: Principal) -> IncentiveStatement:
        row = self._visible(agreement_id, principal)
        stored = self.store.statement_of(row.id)
        if stored is None:
            raise NotFoundError(f"agreement {row.id} has no statement yet")
        return stored

    def replay(self, agreement_id: str, principal: Principal) -> ReplayOut:
        return replay_statement(self.session, self.statement(agreement_id, principal))

    # -- helpers -------------------------------------------------------------------------
    def _visible(self, agreement_id: str, principal: Principal) -> IncentiveAgreement:
        row = self.store.visible(agreement_id, principal)
        if row is None:
            raise _not_found(agreement_id)
        return row

    @staticmethod
    def _period(first: str, last: str) -> tuple[str, ...]:
        if last < first:
            raise _invalid("last_month", f"{last} is before first_month {first}")
        months = period_months(first, last)
        if len(months) > MAX_PERIOD_MONTHS:
            raise _invalid("last_month", f"a period has at most {MAX_PERIOD_MONTHS} months")
        return months

    def _out(self, state: AgreementState) -> AgreementOut:
        row = state.row
        effective = state.in_effect_since
        newer = state.superseded_by
        return AgreementOut(
            id=row.id,
            series_id=row.series_id,
            version=row.version,
            replaces=row.replaces_id,
            site_id=row.site_id,
            owner_id=row.owner_id,
            contractor_id=row.contractor_id,
            insurer_id=row.insurer_id,
            first_month=row.first_month,
            last_month=row.last_month,
            rule_set_version=row.ruleset_version,
            terms=row.terms,
            document_hash=row.document_hash,
            created_at=row.created_at,
            status=state.status,  # type: ignore[arg-type]
            accepted=[
                Acceptance(
                    party=a.party,  # type: ignore[arg-type]
                    party_id=a.party_id,
                    accepted_at=a.accepted_at,
                    key_id=a.api_key_id,
                )
                for a in state.acceptances
            ],
            effective_at=effective.accepted_at if effective else None,
            superseded_by=newer.id if newer else None,
            statement=state.statement.id if state.statement else None,
        )


# --- the pure parts -----------------------------------------------------------------------


def _rule_set(version: str, field: str = "rule_set_version") -> RuleSet:
    try:
        return load_rule_set(version)
    except RuleError as exc:
        raise _invalid(field, str(exc).splitlines()[0]) from None


def _terms(raw: dict[str, Any], rule_set: RuleSet) -> AgreementTerms:
    given = raw.get("rule_set_version", rule_set.version)
    if given != rule_set.version:
        raise _invalid(
            "terms.rule_set_version",
            f"{given!r} differs from rule_set_version {rule_set.version!r}",
        )
    try:
        terms = terms_from_json({**raw, "rule_set_version": rule_set.version})
    except RuleSetError as exc:
        raise _terms_error(exc.problems) from None
    problems = validate_terms(terms, rule_set)
    if problems:
        raise _terms_error(problems)
    return terms


def _terms_error(problems: Any) -> InvalidInputError:
    fields = [FieldError("terms" + p.path.removeprefix("$"), p.message) for p in problems]
    return InvalidInputError(
        f"the request is not valid: {fields[0].field}: {fields[0].message}", fields=fields
    )


def _evaluate(rule_set: RuleSet, inputs: EvaluationInputs) -> PeriodEvaluation:
    return evaluate_period(
        rule_set,
        inputs.site_class,
        inputs.months,
        inputs.rows,
        inputs.peers,
        inputs.claims,
        claims_data=inputs.claims_data,
    )


def _statement(row: IncentiveAgreement, rule_set: RuleSet, inputs: EvaluationInputs) -> Statement:
    terms = terms_from_json(row.terms)
    return settle(terms, _evaluate(rule_set, inputs))


def replay_statement(session: Session, stored: IncentiveStatement) -> ReplayOut:
    """Recompute a stored statement from its stored inputs under the agreement's terms
    and rule set, and check the site's rows it used against the feed's versions."""
    row = session.get(IncentiveAgreement, stored.agreement_id)
    if row is None:  # pragma: no cover - a foreign key holds it
        raise NotFoundError(f"no agreement {stored.agreement_id!r}")
    inputs = EvaluationInputs.from_json(stored.inputs)
    rule_set = _rule_set(row.ruleset_version)
    again = _statement(row, rule_set, inputs)
    wanted = {r.month: r.revision for r in inputs.rows}
    feed = stored_row_versions(session, row.site_id, wanted)
    mismatched = sorted(r.month for r in inputs.rows if feed.get(r.month) != dict(r.values))
    return ReplayOut(
        statement_id=stored.id,
        content_hash=stored.content_hash,
        replayed_hash=again.content_hash,
        same_bytes=again.canonical_json() == stored.body.encode(),
        feed_rows_match=not mismatched,
        mismatched_rows=mismatched,
    )


def _info(row: IncentiveStatement, *, created: bool) -> StatementInfo:
    return StatementInfo(
        id=row.id,
        agreement_id=row.agreement_id,
        content_hash=row.content_hash,
        issued_at=row.issued_at,
        issued_by_key=row.issued_by_key,
        created=created,
    )


def _criterion_out(c: CriterionEvaluation) -> CriterionOut:
    return CriterionOut(
        name=c.name,
        zh=c.zh,
        en=c.en,
        metric=c.metric,
        column=c.column,
        operator=c.operator,
        threshold=c.threshold,
        max_missing_months=c.max_missing_months,
        value=c.value,
        outcome=c.outcome,
        reason=c.reason,
        months=list(c.months),
        months_used=list(c.months_used),
        missing_months=list(c.missing_months),
        revisions=dict(c.revisions),
        by_month=[
            MonthOut(
                month=m.month,
                value=m.value,
                cumulative=m.cumulative,
                status=m.status,
                revision=m.revision,
                peers=m.peers,
            )
            for m in c.by_month
        ],
    )


def _evaluation_out(
    row: IncentiveAgreement, inputs: EvaluationInputs, evaluation: PeriodEvaluation | None
) -> EvaluationOut:
    return EvaluationOut(
        agreement_id=row.id,
        site_id=row.site_id,
        rule_set_version=row.ruleset_version,
        project_type=inputs.site_class.project_type,
        stage=inputs.site_class.stage,
        first_month=row.first_month,
        last_month=row.last_month,
        through_month=inputs.months[-1] if inputs.months else None,
        months=list(inputs.months),
        months_used=list(evaluation.months_used) if evaluation else [],
        missing_months=list(evaluation.missing_months) if evaluation else [],
        revisions=dict(evaluation.revisions) if evaluation else {},
        claims_data=inputs.claims_data,
        tiers=[
            TierOut(
                name=t.name,
                zh=t.zh,
                en=t.en,
                means=t.means,
                points=t.points,
                outcome=t.outcome,
                criteria=[_criterion_out(c) for c in t.criteria],
            )
            for t in (evaluation.tiers if evaluation else ())
        ],
        breaches=[
            BreachOut(
                name=b.name,
                zh=b.zh,
                en=b.en,
                outcome=b.outcome,
                criterion=_criterion_out(b.criterion),
            )
            for b in (evaluation.breaches if evaluation else ())
        ],
    )


def statement_document(stored: IncentiveStatement) -> dict[str, Any]:
    """The stored statement as JSON values (for the print view)."""
    document: dict[str, Any] = msgspec.json.decode(stored.body)
    return document
