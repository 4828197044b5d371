"""Configuration: one settings object, read from ``SWITCHBACK_*`` environment variables
and CLI flags. Secrets (the admin key) come only from the environment."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHBACK_", extra="ignore")

    data_dir: Path = Field(default=Path(".switchback"), description="where the SQLite files live")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    base_url: str | None = Field(default=None, description="public URL used in links (default http://host:port)")
    admin_key: str | None = Field(default=None, repr=False, description="admin API key for the default workspace")
    workspace: str = "default"
    test_clock: bool = Field(default=False, description="virtual clock + /v1/testing routes (tests only)")
    max_batch: int = 1000
    max_body_bytes: int = 8 * 1024 * 1024

    def public_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")
