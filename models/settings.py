"""One typed settings object, read from the environment when asked for.

Defaults are the embedded, one-machine set-up: everything under ``SITERISK_HOME``
(``./var``), an SQLite MLflow store and an SQLite database. Real servers are one
environment variable away (``MLFLOW_TRACKING_URI``, ``DATABASE_URL``). Paths are
only computed here, never created: reading settings has no side effects.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Known to everyone who reads this file, so only fit for a developer's machine:
# the service warns (logs and readiness) when it is used outside ``env=dev``.
DEV_KEY_PEPPER = "siterisk-dev-pepper-not-a-secret"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SITERISK_", extra="ignore")

    home: Path = Field(default=Path("var"), description="Folder for embedded stores and caches.")
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
    workers: int = Field(default=1, ge=1)
    max_body_bytes: int = Field(default=2 * 1024 * 1024, gt=0, description="Request body limit.")
    rate_limit_per_second: float = Field(
        default=5000.0, ge=0.0, description="Requests per second per API key; 0 turns it off."
    )
    auth_cache_seconds: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description="How long a resolved key is trusted before the database is asked again; "
        "a key revoked elsewhere keeps working for at most this long.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Allowed browser origins; empty means CORS closed."
    )
    model_cache_dir: Path | None = Field(
        default=None, description="Local copies of served models; default home/model-cache."
    )
    model_poll_seconds: float = Field(
        default=0.0, ge=0.0, description="How often to look for a new champion; 0 = never."
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
    def pepper_is_dev_default(self) -> bool:
        return self.key_pepper.get_secret_value() == DEV_KEY_PEPPER


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
