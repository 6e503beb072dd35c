"""Owner keys (issue 19, item 1): scoped to an owner id, created like the other roles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from svc_helpers import bearer
from typer.testing import CliRunner

from models.settings import Settings
from service.app import create_app
from service.auth.store import ApiKeyStore, KeySpec
from service.cli import app as cli
from service.db.engine import Database
from service.errors import InvalidInputError

runner = CliRunner()


def test_an_owner_key_is_created_on_the_command_line_and_names_its_owner(
    cli_stores: Path,
) -> None:
    result = runner.invoke(cli, ["keys", "create", "--role", "owner", "--owner-id", "OWN-7"])
    assert result.exit_code == 0, result.output
    assert "owner, OWN-7" in result.stderr
    with TestClient(create_app()) as client:
        me = client.get("/v1/whoami", headers=bearer(result.stdout.strip())).json()
    assert (me["role"], me["owner_id"], me["contractor_id"], me["insurer_id"]) == (
        "owner",
        "OWN-7",
        None,
        None,
    )
    listed = runner.invoke(cli, ["keys", "list"])
    assert "OWN-7" in listed.stdout


@pytest.mark.parametrize(
    ("role", "kwargs", "field"),
    [
        ("owner", {}, "owner_id"),
        ("owner", {"owner_id": "has space"}, "owner_id"),
        ("insurer", {"insurer_id": "I1", "owner_id": "OWN-1"}, "owner_id"),
        ("owner", {"owner_id": "OWN-1", "contractor_id": "C1"}, "contractor_id"),
    ],
)
def test_owner_ids_belong_to_owner_keys_only(role: str, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        KeySpec.parse(role, **kwargs)
    assert field in [f.field for f in caught.value.fields]


def test_a_rotated_owner_key_keeps_its_owner(settings: Settings, issue_key: Any) -> None:
    issued = issue_key("owner", owner_id="OWN-2")
    database = Database(settings.db_url)
    try:
        with database.session() as session:
            store = ApiKeyStore(session, settings.key_pepper.get_secret_value())
            rotated = store.rotate(issued.row.id)
            assert (rotated.row.role, rotated.row.owner_id) == ("owner", "OWN-2")
    finally:
        database.dispose()
    with TestClient(create_app(settings)) as client:
        me = client.get("/v1/whoami", headers=bearer(rotated.key)).json()
        old = client.get("/v1/whoami", headers=bearer(issued.key))
    assert me["owner_id"] == "OWN-2"
    assert old.status_code == 401


def test_an_admin_issues_owner_keys_through_the_api(settings: Settings, issue_key: Any) -> None:
    admin = issue_key("admin")
    with TestClient(create_app(settings)) as client:
        made = client.post(
            "/v1/admin/keys", json={"role": "owner", "owner_id": "OWN-9"}, headers=bearer(admin.key)
        )
        refused = client.post("/v1/admin/keys", json={"role": "owner"}, headers=bearer(admin.key))
        assert made.status_code == 201, made.text
        assert (made.json()["info"]["role"], made.json()["info"]["owner_id"]) == ("owner", "OWN-9")
        me = client.get("/v1/whoami", headers=bearer(made.json()["key"])).json()
    assert me["owner_id"] == "OWN-9"
    assert refused.status_code == 422
    assert [f["field"] for f in refused.json()["error"]["fields"]] == ["owner_id"]
