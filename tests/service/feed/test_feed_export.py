"""``siterisk data export``: the stored data as a contract folder that passes
``siterisk data validate`` and gives training the very frames that were fed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from feed_helpers import Keys, bearer, parquet_part, rows
from litestar import Litestar
from litestar.testing import TestClient
from pandas.testing import assert_frame_equal
from typer.testing import CliRunner

from models import features as fdef
from models.contract import ContractData, load_folder
from models.settings import Settings, get_settings
from siterisk.cli import app as cli


def _feed(client: TestClient[Litestar], keys: Keys, data: ContractData) -> str:
    """Everything fed; another insurer reuses one claim id. Returns that id."""
    response = client.post(
        "/v1/feed/bulk",
        files={
            "sites": parquet_part(data.sites, "sites.parquet"),
            "site_months": parquet_part(data.site_months, "site_months.parquet"),
        },
        headers=bearer(keys.platform),
    )
    assert response.status_code == 200, response.text
    response = client.post(
        "/v1/feed/bulk",
        files={"claims": parquet_part(data.claims, "claims.parquet")},
        headers=bearer(keys.insurer),
    )
    assert response.status_code == 200, response.text
    shared = rows(data.claims.head(1), "claims")[0]
    response = client.post(
        "/v1/feed/claims", json={"claims": [shared]}, headers=bearer(keys.other_insurer)
    )
    assert response.status_code == 200, response.text
    return str(shared["claim_id"])


@pytest.fixture
def db_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("DATABASE_URL", settings.db_url)
    monkeypatch.setenv("SITERISK_HOME", str(settings.home))
    get_settings.cache_clear()
    yield settings  # type: ignore[misc]
    get_settings.cache_clear()


def _sorted(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    return frame.sort_values(by).reset_index(drop=True)


def test_the_export_is_a_valid_contract_folder_holding_what_was_fed(
    bare_client: TestClient[Litestar],
    keys: Keys,
    alien_data: ContractData,
    db_env: Settings,
    tmp_path: Path,
) -> None:
    shared = _feed(bare_client, keys, alien_data)
    runner = CliRunner()
    out = tmp_path / "export"
    result = runner.invoke(cli, ["data", "export", "--out", str(out), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert "follows the data contract" in result.stdout
    assert f"store: database {db_env.db_url}\n" in result.stderr
    assert "2 claims share their claim_id" in result.stderr
    validated = runner.invoke(cli, ["data", "validate", str(out)])
    assert validated.exit_code == 0, validated.output

    exported = load_folder(out)
    assert_frame_equal(_sorted(exported.sites, ["site_id"]), _sorted(alien_data.sites, ["site_id"]))
    assert_frame_equal(
        _sorted(exported.site_months, ["site_id", "month"]),
        _sorted(alien_data.site_months, ["site_id", "month"]),
    )
    ids = set(exported.claims["claim_id"])
    assert len(exported.claims) == len(alien_data.claims) + 1
    assert {f"INS-A:{shared}", f"INS-B:{shared}"} <= ids
    assert shared not in ids


def test_one_insurer_s_export_trains_on_exactly_the_features_of_the_original(
    bare_client: TestClient[Litestar],
    keys: Keys,
    alien_data: ContractData,
    db_env: Settings,
    tmp_path: Path,
) -> None:
    _feed(bare_client, keys, alien_data)
    out = tmp_path / "export"
    result = CliRunner().invoke(cli, ["data", "export", "--out", str(out), "--insurer-id", "INS-A"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "claims.parquet", "site_months.parquet", "sites.parquet",
    ]  # fmt: skip
    exported = load_folder(out)
    assert_frame_equal(
        _sorted(exported.claims, ["claim_id"]), _sorted(alien_data.claims, ["claim_id"])
    )
    # What training builds from the export is what it builds from the original folder.
    original = fdef.build_features(alien_data.sites, alien_data.site_months, alien_data.claims)
    again = fdef.build_features(exported.sites, exported.site_months, exported.claims)
    key = ["site_id", "month"]
    assert_frame_equal(_sorted(again, key), _sorted(original, key))


def test_an_export_refuses_a_folder_holding_the_other_format(
    bare_client: TestClient[Litestar],
    keys: Keys,
    alien_data: ContractData,
    db_env: Settings,
    tmp_path: Path,
) -> None:
    _feed(bare_client, keys, alien_data)
    out = tmp_path / "mixed"
    out.mkdir()
    (out / "sites.csv").write_text("site_id\n")
    result = CliRunner().invoke(cli, ["data", "export", "--out", str(out)])
    assert result.exit_code == 1
    assert "sites.csv is in the way" in result.output
    assert not (out / "sites.parquet").exists()
