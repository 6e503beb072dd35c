"""How commands name their stores (passwords masked), and when a store counts as
missing or not answering (models/stores.py)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from models import stores
from models.settings import Settings


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+psycopg://siterisk:s3cret@db:5432/siterisk",
            "postgresql+psycopg://siterisk:***@db:5432/siterisk",
        ),
        ("postgresql://u:s3cret@h/d?password=s3cret", "postgresql://u:***@h/d?password=***"),
        ("http://user:s3cret@mlflow:5000", "http://user:***@mlflow:5000"),
        ("sqlite:////srv/var/siterisk.db", "sqlite:////srv/var/siterisk.db"),
        ("databricks", "databricks"),
        ("https://mlflow.example/base", "https://mlflow.example/base"),
    ],
)
def test_urls_are_shown_without_their_password(url: str, shown: str) -> None:
    assert stores.mask_url(url) == shown
    assert "s3cret" not in str(stores.Store("database", url))


def test_the_store_line_names_every_store_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(
        home=tmp_path, database_url="postgresql://siterisk:pw@db/siterisk", mlflow_tracking_uri=None
    )
    stores.announce(stores.database(settings), stores.mlflow(settings))
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "store: database postgresql://siterisk:***@db/siterisk; "
        f"mlflow sqlite:///{tmp_path.resolve() / 'mlflow.db'}\n"
    )


def test_sqlite_files() -> None:
    assert stores.sqlite_file("sqlite:////srv/x.db") == Path("/srv/x.db")
    assert stores.sqlite_file("sqlite:///relative.db") == Path("relative.db")
    for url in ("sqlite://", "sqlite:///:memory:", "postgresql://h/d", "http://h", "databricks"):
        assert stores.sqlite_file(url) is None


def test_an_absent_sqlite_mlflow_store_is_missing_unless_it_may_be_made(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", mlflow_tracking_uri=None)
    problem = stores.mlflow_problem(settings)
    assert problem == (
        f"no MLflow store at {(tmp_path / 'home' / 'mlflow.db').resolve()}: run `siterisk train "
        "--data DIR` (or `make demo`) first, or set SITERISK_HOME (or MLFLOW_TRACKING_URI) to "
        "where it is"
    )
    assert stores.mlflow_problem(settings, may_create=True) is None
    assert not (tmp_path / "home").exists()
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "mlflow.db").write_bytes(b"")
    assert stores.mlflow_problem(settings) is None


def test_a_folder_store_is_missing_when_its_folder_is(tmp_path: Path) -> None:
    for uri in (str(tmp_path / "mlruns"), (tmp_path / "mlruns").as_uri()):
        settings = Settings(home=tmp_path, mlflow_tracking_uri=uri)
        assert (stores.mlflow_problem(settings) or "").startswith("no MLflow store at")
    (tmp_path / "mlruns").mkdir()
    assert stores.mlflow_problem(Settings(home=tmp_path, mlflow_tracking_uri=uri)) is None


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def answering_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_tracking_server_is_asked_its_health(tmp_path: Path, answering_server: str) -> None:
    up = Settings(home=tmp_path, mlflow_tracking_uri=answering_server)
    assert stores.mlflow_problem(up) is None
    down = Settings(
        home=tmp_path, mlflow_tracking_uri=f"http://u:s3cret@127.0.0.1:{_closed_port()}"
    )
    # Something answers, but not as this machine expects TLS: MLflow's business.
    tls = answering_server.replace("http://", "https://")
    assert stores.mlflow_problem(Settings(home=tmp_path, mlflow_tracking_uri=tls)) is None
    problem = stores.mlflow_problem(down, timeout=2.0) or ""
    assert problem.startswith("the MLflow server http://u:***@127.0.0.1:")
    assert "does not answer" in problem
    assert "s3cret" not in problem


def test_a_database_error_is_one_line_without_the_password() -> None:
    class DriverError(Exception):
        pass

    class WrappedError(Exception):
        orig = DriverError('connection to "db" failed for user "u" with password "s3cret"\nmore')

    line = stores.one_line(WrappedError("ignored"), "postgresql://u:s3cret@db/x")
    assert line == 'DriverError: connection to "db" failed for user "u" with password "***"'
