"""Agreements, acceptances and statements in the database, and who may see which.

A caller sees an agreement only as one of its parties: the owner of the site, the
contractor, or the insurer the agreement names. For anyone else it does not exist
(:meth:`AgreementStore.visible` answers None, the API a 404 like a missing one).
Rows are only ever inserted (tables and triggers refuse updates, migration 0005).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, false
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from service.auth.principal import Principal, Role
from service.db.tables import AgreementAcceptance, IncentiveAgreement, IncentiveStatement
from service.errors import ConflictError


def party_filter(principal: Principal) -> ColumnElement[bool]:
    """The agreements ``principal`` is a party to, as a WHERE clause."""
    if principal.role is Role.owner and principal.owner_id:
        return col(IncentiveAgreement.owner_id) == principal.owner_id
    if principal.role is Role.contractor and principal.contractor_id:
        return col(IncentiveAgreement.contractor_id) == principal.contractor_id
    if principal.role is Role.insurer and principal.insurer_id:
        return col(IncentiveAgreement.insurer_id) == principal.insurer_id
    return false()


@dataclass(frozen=True)
class AgreementState:
    """An agreement with what happened to it since it was registered."""

    row: IncentiveAgreement
    acceptances: tuple[AgreementAcceptance, ...]
    newer: tuple[IncentiveAgreement, ...]  # later versions of its series, oldest first
    newer_accepted: dict[str, int]  # id of each later version -> parties that accepted
    statement: IncentiveStatement | None

    def accepted_by(self, party: str) -> AgreementAcceptance | None:
        return next((a for a in self.acceptances if a.party == party), None)

    @property
    def in_effect_since(self) -> AgreementAcceptance | None:
        """The acceptance that made it effective (the second one), if both accepted."""
        if len(self.acceptances) < 2:
            return None
        return max(self.acceptances, key=lambda a: (a.accepted_at, a.id or 0))

    @property
    def superseded_by(self) -> IncentiveAgreement | None:
        """The later version in effect that replaced it (both parties accepted)."""
        effective = [n for n in self.newer if self.newer_accepted.get(n.id, 0) >= 2]
        return effective[0] if effective else None

    @property
    def status(self) -> str:
        if self.superseded_by is not None:
            return "superseded" if self.in_effect_since else "replaced_before_effect"
        return "in_effect" if self.in_effect_since else "awaiting_acceptance"


class AgreementStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- writing -------------------------------------------------------------------------
    def add(self, row: IncentiveAgreement) -> IncentiveAgreement:
        self.session.add(row)
        try:
            self.session.commit()
        except IntegrityError:
            self.session.rollback()
            raise ConflictError(
                "another version of this agreement was registered meanwhile; read the "
                "series again and replace its latest version"
            ) from None
        self.session.refresh(row)
        return row

    def accept(self, agreement_id: str, party: str, party_id: str, key_id: int) -> None:
        """Record an acceptance; a party that accepted before changes nothing."""
        found = self.session.exec(
            select(AgreementAcceptance).where(
                AgreementAcceptance.agreement_id == agreement_id,
                AgreementAcceptance.party == party,
            )
        ).first()
        if found is not None:
            return
        self.session.add(
            AgreementAcceptance(
                agreement_id=agreement_id, party=party, party_id=party_id, api_key_id=key_id
            )
        )
        try:
            self.session.commit()
        except IntegrityError:
            self.session.rollback()  # the same party accepted at the same moment: done

    def add_statement(self, row: IncentiveStatement) -> tuple[IncentiveStatement, bool]:
        """Store a statement; if one was issued meanwhile, that one (and False)."""
        self.session.add(row)
        try:
            self.session.commit()
        except IntegrityError:
            self.session.rollback()
            stored = self.statement_of(row.agreement_id)
            if stored is None:  # pragma: no cover - the unique key is the only conflict
                raise
            return stored, False
        self.session.refresh(row)
        return row, True

    # -- reading -------------------------------------------------------------------------
    def visible(self, agreement_id: str, principal: Principal) -> IncentiveAgreement | None:
        """The agreement if ``principal`` is one of its parties; else None, as if missing."""
        return self.session.exec(
            select(IncentiveAgreement).where(
                IncentiveAgreement.id == agreement_id, party_filter(principal)
            )
        ).first()

    def listed(
        self, principal: Principal, *, site_id: str | None = None, limit: int = 100
    ) -> Sequence[IncentiveAgreement]:
        query = select(IncentiveAgreement).where(party_filter(principal))
        if site_id is not None:
            query = query.where(IncentiveAgreement.site_id == site_id)
        order = (col(IncentiveAgreement.created_at).desc(), col(IncentiveAgreement.id))
        return self.session.exec(query.order_by(*order).limit(limit)).all()

    def series(self, series_id: str) -> Sequence[IncentiveAgreement]:
        return self.session.exec(
            select(IncentiveAgreement)
            .where(IncentiveAgreement.series_id == series_id)
            .order_by(col(IncentiveAgreement.version))
        ).all()

    def acceptances(self, agreement_ids: Sequence[str]) -> Sequence[AgreementAcceptance]:
        if not agreement_ids:
            return []
        return self.session.exec(
            select(AgreementAcceptance)
            .where(col(AgreementAcceptance.agreement_id).in_(agreement_ids))
            .order_by(col(AgreementAcceptance.id))
        ).all()

    def statement_of(self, agreement_id: str) -> IncentiveStatement | None:
        return self.session.exec(
            select(IncentiveStatement).where(IncentiveStatement.agreement_id == agreement_id)
        ).first()

    def unsettled_before(self, month: str) -> Sequence[IncentiveAgreement]:
        """Agreements whose period ends before ``month`` and that have no statement,
        oldest first."""
        settled = select(IncentiveStatement.agreement_id)
        return self.session.exec(
            select(IncentiveAgreement)
            .where(
                col(IncentiveAgreement.last_month) < month,
                col(IncentiveAgreement.id).not_in(settled),
            )
            .order_by(col(IncentiveAgreement.created_at), col(IncentiveAgreement.id))
        ).all()

    def statement(self, statement_id: str) -> IncentiveStatement | None:
        return self.session.get(IncentiveStatement, statement_id)

    def state(self, row: IncentiveAgreement) -> AgreementState:
        series = self.series(row.series_id)
        newer = tuple(r for r in series if r.version > row.version)
        accepted = self.acceptances([row.id, *(r.id for r in newer)])
        counts: dict[str, int] = {}
        for a in accepted:
            counts[a.agreement_id] = counts.get(a.agreement_id, 0) + 1
        return AgreementState(
            row=row,
            acceptances=tuple(a for a in accepted if a.agreement_id == row.id),
            newer=newer,
            newer_accepted=counts,
            statement=self.statement_of(row.id),
        )
