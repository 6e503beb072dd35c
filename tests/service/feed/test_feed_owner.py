"""Sites' owners in the feed (issue 19, item 1; data contract v1.1): stored where a
file has the column, kept where a later v1 file or JSON row does not, and a v1 folder
stores and re-sends exactly as before."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from feed_helpers import Keys, bearer, csv_part, rows
from litestar import Litestar
from litestar.testing import TestClient
from sqlmodel import Session, select

from models.contract import ContractData
from service.db.feed_tables import Site, SiteHistory


def _push_sites(client: TestClient[Litestar], key: str, sites: pd.DataFrame) -> dict[str, int]:
    response = client.post(
        "/v1/feed/bulk", files={"sites": csv_part(sites, "sites.csv")}, headers=bearer(key)
    )
    assert response.status_code == 200, response.text
    table: dict[str, int] = response.json()["tables"]["sites"]
    return table


def _owners(client: TestClient[Litestar]) -> dict[str, str | None]:
    from service.runtime import runtime_of

    with Session(runtime_of(client.app).database.engine) as session:
        return {s.site_id: s.owner_id for s in session.exec(select(Site)).all()}


def test_owners_are_stored_kept_by_v1_rows_and_cleared_only_when_sent_empty(
    bare_client: TestClient[Litestar], keys: Keys, alien_data: ContractData
) -> None:
    sites = alien_data.sites.head(6).copy()
    ids = sites["site_id"].tolist()
    first = _push_sites(bare_client, keys.platform, sites)
    assert (first["inserted"], first["updated"]) == (6, 0)
    assert set(_owners(bare_client).values()) == {None}

    owned = sites.assign(owner_id=["OWN-A", "OWN-A", "OWN-B", None, None, None])
    second = _push_sites(bare_client, keys.platform, owned)
    # only the sites that gained an owner changed; an empty owner is the v1 row again
    assert (second["updated"], second["unchanged"]) == (3, 3)
    expected = dict(zip(ids, ["OWN-A", "OWN-A", "OWN-B", None, None, None], strict=True))
    assert _owners(bare_client) == expected

    again_v1 = _push_sites(bare_client, keys.platform, sites)  # no owner_id column
    assert (again_v1["updated"], again_v1["unchanged"]) == (0, 6)
    assert _owners(bare_client) == expected

    # a JSON row is a v1 row: it corrects the site and keeps its owner
    row = rows(sites.head(1), "sites")[0]
    row["tower_cranes"] += 1
    put = bare_client.put(f"/v1/feed/sites/{ids[0]}", json=row, headers=bearer(keys.platform))
    assert put.status_code == 200, put.text
    assert _owners(bare_client)[ids[0]] == "OWN-A"

    cleared = owned.assign(owner_id=[None, "OWN-A", "OWN-B", None, None, None])
    assert _push_sites(bare_client, keys.platform, cleared)["updated"] == 1
    assert _owners(bare_client)[ids[0]] is None
    from service.runtime import runtime_of

    with Session(runtime_of(bare_client.app).database.engine) as session:
        kept = session.exec(
            select(SiteHistory.version, SiteHistory.owner_id)
            .where(SiteHistory.site_id == ids[0])
            .order_by(SiteHistory.version)
        ).all()
    assert [tuple(k) for k in kept] == [(1, None), (2, "OWN-A"), (3, "OWN-A")]


def test_the_export_writes_owners_only_when_a_site_names_one(
    bare_client: TestClient[Litestar], keys: Keys, alien_data: ContractData, tmp_path: Path
) -> None:
    from service.feed.export import export_folder
    from service.runtime import runtime_of

    sites = alien_data.sites.head(4).copy()
    _push_sites(bare_client, keys.platform, sites)
    engine = runtime_of(bare_client.app).database.engine
    with Session(engine) as session:
        export_folder(session, tmp_path / "v1", fmt="csv")
    # only sites were fed, so the sites file is read alone
    assert "owner_id" not in pd.read_csv(tmp_path / "v1" / "sites.csv").columns

    _push_sites(bare_client, keys.platform, sites.assign(owner_id=["OWN-A", None, "OWN-B", None]))
    with Session(engine) as session:
        export_folder(session, tmp_path / "v1.1", fmt="csv")
    exported = pd.read_csv(tmp_path / "v1.1" / "sites.csv").set_index("site_id")["owner_id"]
    expected = dict(zip(sites["site_id"], ["OWN-A", None, "OWN-B", None], strict=True))
    assert {k: (None if pd.isna(v) else v) for k, v in exported.items()} == expected
