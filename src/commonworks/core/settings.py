"""The one settings object: every knob is a ``COMMONWORKS_*`` environment variable.

The defaults are the embedded mode (a SQLite file under ``./var``, no broker), so the
platform runs with zero set-up; production points ``COMMONWORKS_DATABASE_URL`` at
PostgreSQL. The JWT signing key, when not given, is generated once and kept in the data
directory so sessions survive a restart.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COMMONWORKS_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("var"), description="Where the SQLite file, keys and UI state live.")
    database_url: str = Field(default="", description="SQLAlchemy URL; empty means SQLite in data_dir.")
    secret_key: str = Field(default="", description="JWT signing key; empty means generated in data_dir.")
    host: str = "127.0.0.1"
    port: int = 8000
    access_token_minutes: int = Field(default=12 * 60, ge=1)
    login_max_failures: int = Field(default=5, ge=1, description="Failed logins allowed per window.")
    login_window_seconds: int = Field(default=300, ge=1)
    default_language: str = "zh_CN"
    ui: bool = Field(default=True, description="Mount the web UI on the API app.")
    retention_raw_days: int = Field(default=90, ge=1, description="Default days raw samples are kept.")
    retention_rollup_1m_days: int = Field(default=400, ge=1)
    retention_rollup_1h_days: int = Field(default=3650, ge=1)
    retention_interval_s: int = Field(default=3600, ge=0,
                                      description="How often the server applies retention; 0 = never.")
    states_interval_s: float = Field(default=10, ge=0,
                                     description="How often the server brings machine states up to date; 0 = never.")
    mqtt_url: str = Field(default="", description="Broker for MQTT ingest, e.g. mqtt://127.0.0.1:1883; empty: none.")

    @field_validator("default_language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        from commonworks.core.i18n import LANGUAGES

        if value not in LANGUAGES:
            raise ValueError(f"unknown language {value!r}; use one of {', '.join(LANGUAGES)}")
        return value

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'commonworks.db').resolve()}"

    def jwt_key(self) -> str:
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        self.secret_key = path.read_text().strip()
        return self.secret_key


@lru_cache
def get_settings() -> Settings:
    return Settings()
