"""The portal on PostgreSQL: the queries it adds (latest quote per site, a site's trend
read from the stored answers' JSON) run on a real server, not only on SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest
from litestar.testing import TestClient
from portal_helpers import build_scenario, portal_app, portal_settings

from models.bundle import ModelBundle
from service.db import migrate
from service.portal.access import CSRF_COOKIE
from training.synth import World

pytestmark = pytest.mark.xdist_group("portal")


def test_the_portal_reads_its_pages_from_postgres(
    pg_database: str,
    tmp_path: Path,
    migrated_db: Path,
    portal_bundle: ModelBundle,
    portal_world: World,
) -> None:
    migrate.upgrade(pg_database)
    settings = portal_settings(tmp_path, migrated_db, database_url=pg_database)
    with TestClient(portal_app(settings, portal_bundle)) as client:
        scenario = build_scenario(client, settings, portal_world)
        client.get("/portal/login")
        signed_in = client.post(
            "/portal/login",
            data={"api_key": scenario.keys["c1"], "csrf": client.cookies.get(CSRF_COOKIE)},
            follow_redirects=False,
        )
        assert signed_in.status_code == 303
        listing = client.get("/portal")
        assert listing.status_code == 200
        assert f'data-site="{scenario.site_a}"' in listing.text
        assert f'data-site="{scenario.site_b}"' in listing.text
        assert f'data-site="{scenario.site_c}"' not in listing.text
        page = client.get(f"/portal/sites/{scenario.site_a}?lang=en")
        assert page.status_code == 200
        history = page.text.split('data-testid="history-table"', 1)[1]
        # Both policy starts come from the stored answers' JSON, newest first.
        assert history.index("Jul 2025") < history.index("Jan 2025")
        early = scenario.quotes["a_early"]["pricing"]["final_premium_cny"]
        assert f"¥{early:,.2f}" in history
        assert client.get(f"/portal/sites/{scenario.site_c}").status_code == 404
        link = client.post(
            f"/v1/quotes/{scenario.quotes['c']['quote_id']}/share",
            headers=scenario.bearer("ins_b"),
        ).json()
        client.cookies.clear()
        shared = client.get(link["path"])
        assert shared.status_code == 200
        assert f"Site {scenario.site_c}" in shared.text or f"工地 {scenario.site_c}" in shared.text
