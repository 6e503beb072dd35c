"""Helpers of the feed tests: keys, contract rows as JSON, multipart files."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from models.contract import ContractData
from models.features.build import contractor_records
from service.quotes.example import contract_rows as rows
from service.quotes.schemas import MAX_MONTHS


@dataclass(frozen=True)
class Keys:
    platform: str
    insurer: str  # INS-A
    other_insurer: str  # INS-B
    admin: str
    regulator: str  # pudong
    city_regulator: str  # every district
    contractor: str


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def inline_request(
    data: ContractData, site_id: str, start_month: str, *, with_claims: bool, term: int = 12
) -> dict[str, Any]:
    """The inline request a by-reference quote stands for: the site, its latest 120
    months before the start (oldest first), its claims before the start in
    (incident_date, claim_id) order (as the caller's own ``claims`` if
    ``with_claims``, else counted as another insurer's ``other_claims``), and its
    contractor's record on the other sites (every insurer's claims, counted), worked out
    from the whole folder."""
    site = data.sites[data.sites["site_id"] == site_id]
    months = (
        data.site_months[
            (data.site_months["site_id"] == site_id) & (data.site_months["month"] < start_month)
        ]
        .sort_values("month")
        .tail(MAX_MONTHS)
    )
    start_day = pd.Timestamp(f"{start_month}-01")
    claims = data.claims[
        (data.claims["site_id"] == site_id) & (data.claims["incident_date"] < start_day)
    ].sort_values(["incident_date", "claim_id"])
    return {
        "site": rows(site, "sites")[0],
        "months": rows(months, "site_months"),
        "claims": rows(claims, "claims") if with_claims else [],
        "other_claims": []
        if with_claims
        else [
            {"incident_date": c["incident_date"], "severity": c["severity"]}
            for c in rows(claims, "claims")
        ],
        "policy": {"start_month": start_month, "term_months": term},
        "contractor_record": contractor_record(data, site_id, start_month),
    }


def contractor_record(data: ContractData, site_id: str, start_month: str) -> dict[str, Any]:
    target = pd.DataFrame({"site_id": [site_id], "month": [start_month]})
    totals = contractor_records(data.sites, data.site_months, data.claims, target).iloc[0]
    return {
        "before_month": start_month,
        "other_sites": round(float(totals["other_sites"])),
        "worker_hours": float(totals["worker_hours"]),
        "claims": round(float(totals["claims"])),
        "serious_claims": round(float(totals["serious_claims"])),
    }


def csv_part(frame: pd.DataFrame, name: str) -> tuple[str, bytes, str]:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return (name, buffer.getvalue().encode(), "text/csv")


def parquet_part(frame: pd.DataFrame, name: str) -> tuple[str, bytes, str]:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return (name, buffer.getvalue(), "application/vnd.apache.parquet")


def file_part(path: Path) -> tuple[str, bytes, str]:
    return (path.name, path.read_bytes(), "text/csv")
