"""The few lines that describe a folder which follows the data contract: what
``siterisk data validate`` prints, and ``siterisk data export`` after checking its export."""

from __future__ import annotations

from pathlib import Path

from models.contract.load import ContractData
from models.contract.spec import CONTRACT_VERSION


def describe_folder(folder: Path, data: ContractData) -> str:
    months = data.site_months["month"]
    lines = [f"✓ {folder} follows the data contract (v{CONTRACT_VERSION})"]
    for table, frame in (
        ("sites", data.sites),
        ("site_months", data.site_months),
        ("claims", data.claims),
    ):
        source = data.sources[table].name if table in data.sources else table
        lines.append(f"  {table:<12} {len(frame):>10,} rows  ({source})")
    lines.append(
        f"  {data.sites['site_id'].nunique():,} sites, months {months.min()} to {months.max()}, "
        f"{len(data.claims):,} claims"
    )
    lines += [f"  warning: {w}" for w in data.warnings]
    return "\n".join(lines)
