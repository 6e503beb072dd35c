"""One typed settings object, read from the environment when asked for.

Defaults are the embedded, one-machine set-up: everything under one home folder, an
SQLite MLflow store and an SQLite database. Real servers are one environment variable
away (``MLFLOW_TRACKING_URI``, ``DATABASE_URL``). Paths are only computed here, never
created: reading settings has no side effects.

The home is ``SITERISK_HOME`` when set; else, when this code runs from a source checkout
(installed editable: the folder above the ``models`` package holds a ``pyproject.toml``),
that checkout's ``var/``, the folder ``make demo`` fills; else the per-user data folder
``$XDG_DATA_HOME/siterisk`` (``~/.local/share/siterisk``). It never depends on the
folder a command runs in (docs/stores.md).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Known to everyone who reads this file, so only fit for a developer's machine:
# the service warns (logs and readiness) when it is used outside ``env=dev``.
DEV_KEY_PEPPER = "siterisk-dev-pepper-not-a-secret"


def source_checkout() -> Path | None:
    """The source checkout this code runs from, if it does (an editable install): the
    folder above the ``models`` package, when it holds a ``pyproject.toml``."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() else None


def user_data_home() -> Path:
    """The per-user data folder: ``$XDG_DATA_HOME/siterisk``, by default
    ``~/.local/share/siterisk`` (a relative ``XDG_DATA_HOME`` is ignored, as the XDG
    specification says)."""
    xdg = os.environ.get("XDG_DATA_HOME", "")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "siterisk"
    try:
        return Path.home() / ".local" / "share" / "siterisk"
    except RuntimeError:  # no home directory to be found: the folder the command runs in
        return Path("var")


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, which containers and
    ``taskset`` narrow), not the machine's: ``os.process_cpu_count`` from Python 3.13,
    ``sched_getaffinity`` before it, ``os.cpu_count`` where neither exists."""
    counter = getattr(os, "process_cpu_count", None)
    if counter is not None:
        return int(counter() or 1)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def default_home() -> Path:
    """The home when ``SITERISK_HOME`` is not set: the source checkout's ``var/``, else
    the per-user data folder. Computed, never created."""
    checkout = source_checkout()
    return checkout / "var" if checkout is not None else user_data_home()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SITERISK_", extra="ignore")

    home: Path = Field(
        default_factory=default_home,
        description="Folder for embedded stores and caches; default the source checkout's "
        "var/ when run from one, else $XDG_DATA_HOME/siterisk (~/.local/share/siterisk).",
    )
    mlflow_tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "SITERISK_MLFLOW_TRACKING_URI"),
        description="MLflow tracking server or store; default an SQLite store in home.",
    )
    experiment_name: str = "site-risk"
    registered_model_name: str = "site-risk"
    model_uri: str | None = Field(
        default=None, description="Model the service prices with; default the champion."
    )

    # --- the pricing service -------------------------------------------------------
    env: str = Field(default="dev", description="'dev' allows the dev-only key pepper.")
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "SITERISK_DATABASE_URL"),
        description="SQLAlchemy URL of the service database; default an SQLite file in home.",
    )
    key_pepper: SecretStr = Field(
        default=SecretStr(DEV_KEY_PEPPER),
        description="HMAC key mixed into stored API-key hashes; changing it voids all keys.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(
        default_factory=available_cpus,
        ge=1,
        description="Worker processes of `siterisk serve` (SITERISK_WORKERS); default one per "
        "CPU this process may use. Each holds its own copy of the model.",
    )
    max_body_bytes: int = Field(default=2 * 1024 * 1024, gt=0, description="Request body limit.")
    rate_limit_per_second: float = Field(
        default=5000.0, ge=0.0, description="Requests per second per API key; 0 turns it off."
    )
    request_timeout_seconds: float = Field(
        default=60.0,
        gt=0.0,
        description="Longest a request may spend pricing (queueing for a worker included); "
        "past it the request stops before storing anything and answers 503. A full "
        "1,000-site batch needs a few seconds on one core.",
    )
    db_statement_timeout_seconds: float = Field(
        default=60.0,
        ge=0.0,
        description="Longest one statement of the service may run on PostgreSQL before the "
        "server cancels it (the request answers 503 database_unavailable); 0 turns it off. "
        "Migrations and the command line are not limited. SQLite has no such limit.",
    )
    db_group_commit: bool = Field(
        default=True,
        description="Commit the quotes of concurrent requests of a worker process together: "
        "one transaction for all saves queued while the previous one committed, each "
        "request answered once its own committed (service.db.group_commit, issue 21); "
        "false = one commit each.",
    )
    group_pricing: bool = Field(
        default=True,
        description="Price the single quotes of concurrent requests of a worker process "
        "together: one pricing call for the requests queued while the previous call ran, "
        "each answer the same as priced alone (service.quotes.price_groups, issue 21); "
        "false = one call each.",
    )
    auth_cache_seconds: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description="How long a resolved key is trusted before the database is asked again; "
        "a revocation clears every process's cache at once (service.auth.revocation).",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Allowed browser origins; empty means CORS closed."
    )
    model_cache_dir: Path | None = Field(
        default=None, description="Local copies of served models; default home/model-cache."
    )
    model_poll_seconds: float = Field(
        default=60.0,
        ge=0.0,
        description="How often the service asks the registry whether the champion moved "
        "(one cheap call; the new version is downloaded and smoke-tested only when it did); "
        "0 = only at start and on an admin reload.",
    )

    # --- the contractor portal -------------------------------------------------------
    portal_secret: SecretStr | None = Field(
        default=None,
        description="Signs portal session cookies and share links; default: derived from "
        "key_pepper. Changing it signs everyone out and voids every share link.",
    )
    portal_session_minutes: int = Field(
        default=480, ge=5, le=7 * 24 * 60, description="How long a portal sign-in lasts."
    )
    portal_share_days: int = Field(
        default=7, ge=1, le=90, description="Default lifetime of a share link."
    )
    portal_share_max_days: int = Field(
        default=30, ge=1, le=365, description="Longest lifetime an insurer may ask for."
    )
    portal_cookie_secure: bool | None = Field(
        default=None,
        description="Mark portal cookies Secure (HTTPS only); default: yes unless env is dev.",
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        # One environment variable, comma separated, is easier to set than JSON.
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    max_file_bytes: int = Field(
        default=2 * 1024**3,
        gt=0,
        description="Largest data file the contract loader will read; bigger ones are refused.",
    )

    @property
    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.home / 'mlflow.db').resolve()}"

    @property
    def artifact_root(self) -> Path:
        return (self.home / "mlartifacts").resolve()

    @property
    def champion_uri(self) -> str:
        return self.model_uri or f"models:/{self.registered_model_name}@champion"

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'siterisk.db').resolve()}"

    @property
    def model_cache(self) -> Path:
        return (self.model_cache_dir or self.home / "model-cache").resolve()

    @property
    def is_dev(self) -> bool:
        return self.env.strip().lower() in {"dev", "development", "test"}

    @property
    def portal_cookies_secure(self) -> bool:
        if self.portal_cookie_secure is not None:
            return self.portal_cookie_secure
        return not self.is_dev

    @property
    def pepper_is_dev_default(self) -> bool:
        return self.key_pepper.get_secret_value() == DEV_KEY_PEPPER


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
