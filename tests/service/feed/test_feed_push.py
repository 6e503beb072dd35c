"""``siterisk data push``: chunks, progress, resuming after a failure, corrections kept
as versions, and problem reports that name rows of the pushed file."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from feed_helpers import Keys
from sqlalchemy import func, select
from typer.testing import CliRunner

from models.contract import ContractData
from models.settings import Settings, get_settings
from service.cli import app as cli
from service.cli.push import PushError, push_folder
from service.db.engine import Database
from service.db.feed_tables import Claim, Site, SiteMonth


class FailingTransport(httpx.HTTPTransport):
    """Loses the connection on the ``fail_at``-th upload."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.fail_at = fail_at
        self.uploads = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/feed/bulk":
            self.uploads += 1
            if self.uploads == self.fail_at:
                raise httpx.ConnectError("connection lost", request=request)
        return super().handle_request(request)


def _counts(settings: Settings) -> dict[str, int]:
    database = Database(settings.db_url)
    try:
        with database.session() as session:
            return {
                str(t.__tablename__): session.execute(
                    select(func.count()).select_from(t)
                ).scalar_one()
                for t in (Site, SiteMonth, Claim)
            }
    finally:
        database.dispose()


def test_a_push_resumes_after_the_last_confirmed_chunk(
    bare_server: str, keys: Keys, alien_folder: Path, alien_data: ContractData,
    settings: Settings, tmp_path: Path,
) -> None:  # fmt: skip
    state = tmp_path / "push-state.json"
    chunk = 100
    lines: list[str] = []
    flaky = FailingTransport(fail_at=4)
    with pytest.raises(PushError) as failed:
        push_folder(
            alien_folder, bare_server, keys.platform, chunk_rows=chunk, state=state,
            retries=0, transport=flaky, echo=lines.append,
        )  # fmt: skip
    assert "resumes" in str(failed.value)
    confirmed = json.loads(state.read_text())["confirmed"]
    assert len(confirmed) == 3
    assert any(line.startswith("[3/") for line in lines)
    # A second run sends only what was not confirmed, and everything arrives.
    total = -(-len(alien_data.sites) // chunk) + -(-len(alien_data.site_months) // chunk)
    summary = push_folder(
        alien_folder, bare_server, keys.platform, chunk_rows=chunk, state=state, echo=lines.append
    )
    assert (summary.skipped, summary.chunks) == (3, total - 3)
    assert summary.unchanged == 0  # nothing was sent twice
    assert _counts(settings) == {
        "site": len(alien_data.sites), "site_month": len(alien_data.site_months), "claim": 0,
    }  # fmt: skip
    assert not state.exists()  # all done: the next push starts afresh


@pytest.fixture
def push_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The home the CLI keeps its push state in, a folder of the test's own."""
    home = tmp_path / "home"
    monkeypatch.setenv("SITERISK_HOME", str(home))
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


def test_a_corrected_month_pushed_again_replaces_it_and_keeps_the_old_version(
    bare_server: str, keys: Keys, alien_folder: Path, tmp_path: Path, push_home: Path
) -> None:
    runner = CliRunner()
    args = ["--url", bare_server, "--key", keys.platform, "--chunk-rows", "300"]
    first = runner.invoke(cli, ["data", "push", str(alien_folder), *args])
    assert first.exit_code == 0, first.output
    # the service it feeds and where its progress is kept, in one line
    (line,) = [line for line in first.stderr.splitlines() if line.startswith("store:")]
    assert line.startswith(f"store: service {bare_server}; push state {push_home / 'push'}/")
    corrected = tmp_path / "corrected"
    shutil.copytree(alien_folder, corrected)
    months = pd.read_csv(corrected / "site_months.csv", dtype={"month": str})
    target = months.iloc[10]
    old_hours = float(target["worker_hours"])
    months.loc[months.index[10], "worker_hours"] = old_hours + 1234.5
    months.to_csv(corrected / "site_months.csv", index=False)
    second = runner.invoke(cli, ["data", "push", str(corrected), *args])
    assert second.exit_code == 0, second.output
    assert "1 corrected" in second.output
    sites = len(pd.read_csv(corrected / "sites.csv"))
    assert f"{sites + len(months) - 1:,} unchanged" in second.output

    url = f"{bare_server}/v1/feed/sites/{target['site_id']}/months/{target['month']}/history"
    history = httpx.get(url, headers={"Authorization": f"Bearer {keys.insurer}"}).json()
    assert history["current_version"] == 2
    hours = [(v["version"], v["row"]["worker_hours"]) for v in history["versions"]]
    assert hours == [(2, old_hours + 1234.5), (1, old_hours)]
    assert history["versions"][1]["superseded_at"] == history["versions"][0]["valid_from"]


def test_the_service_s_report_names_rows_of_the_pushed_file(
    bare_server: str, keys: Keys, alien_data: ContractData, tmp_path: Path
) -> None:
    # Months alone (their sites are not stored): the service finds the references.
    folder = tmp_path / "months-only"
    folder.mkdir()
    alien_data.site_months.to_csv(folder / "site_months.csv", index=False)
    result = CliRunner().invoke(
        cli,
        ["data", "push", str(folder), "--url", bare_server, "--key", keys.platform,
         "--chunk-rows", "50", "--state", str(tmp_path / "s.json")],
    )  # fmt: skip
    assert result.exit_code == 1
    assert f"store: service {bare_server}; push state {tmp_path / 's.json'}" in result.stderr
    assert "[1/" in result.output
    assert "site_months.csv row 1 (line 2 of the file) site_id" in result.output
    assert "is not a site_id in the stored sites" in result.output


def test_a_folder_that_breaks_the_contract_is_not_sent(
    bare_server: str, keys: Keys, alien_folder: Path, settings: Settings, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(alien_folder, broken)
    sites = pd.read_csv(broken / "sites.csv")
    sites.loc[sites.index[4], "district"] = "atlantis"
    sites.to_csv(broken / "sites.csv", index=False)
    result = CliRunner().invoke(
        cli, ["data", "push", str(broken), "--url", bare_server, "--key", keys.platform]
    )
    assert result.exit_code == 1
    assert "sites.csv row 5 (line 6 of the file) district" in result.output
    assert _counts(settings)["site"] == 0


def test_keys_that_feed_nothing_are_refused(
    bare_server: str, keys: Keys, alien_folder: Path
) -> None:
    for key in (keys.regulator, keys.admin, "srk_nope_nope"):
        result = CliRunner().invoke(
            cli, ["data", "push", str(alien_folder), "--url", bare_server, "--key", key]
        )
        assert result.exit_code == 1
        assert "✗" in result.output
