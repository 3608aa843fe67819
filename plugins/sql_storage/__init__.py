"""SQL storage on SQLAlchemy 2 async: backends ``sqlite`` (aiosqlite) and ``postgres`` (asyncpg)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cms import hookimpl
from cms.contracts import StorageBackend

from .storage import SqlStorage
from .text_cache import DEFAULT_TEXT_CACHE_MB

__all__ = ["PostgresOptions", "SqlStorage", "SqliteOptions"]


_AUTO_MIGRATE = (
    "cms serve makes additive schema changes (new tables, columns, indexes) at start-up; "
    "false: it refuses to start until cms migrate has run"
)

_TEXT_CACHE = (
    "MiB per process of post texts (Markdown and HTML) kept by post version, so reading a "
    "post again sends only its other columns; 0 turns it off"
)


class SqliteOptions(BaseModel):
    """``[storage] options`` for ``backend = "sqlite"``."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field("cms.db", min_length=1, description="Database file, relative to settings")
    busy_timeout_ms: int = Field(5000, ge=0, le=600_000)
    auto_migrate: bool = Field(True, description=_AUTO_MIGRATE)
    text_cache_mb: int = Field(DEFAULT_TEXT_CACHE_MB, ge=0, le=65_536, description=_TEXT_CACHE)


#: PostgreSQL's built-in text search configurations (``\\dF`` of a stock server).
SearchLanguage = Literal[
    "simple",
    "arabic",
    "armenian",
    "basque",
    "catalan",
    "danish",
    "dutch",
    "english",
    "finnish",
    "french",
    "german",
    "greek",
    "hindi",
    "hungarian",
    "indonesian",
    "irish",
    "italian",
    "lithuanian",
    "nepali",
    "norwegian",
    "portuguese",
    "romanian",
    "russian",
    "serbian",
    "spanish",
    "swedish",
    "tamil",
    "turkish",
    "yiddish",
]


class PostgresOptions(BaseModel):
    """``[storage] options`` for ``backend = "postgres"``."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="postgresql://user@host:port/database")
    pool_size: int = Field(5, ge=1, le=100)
    max_overflow: int = Field(5, ge=0, le=100)
    statement_timeout_ms: int = Field(15_000, ge=0)
    connect_timeout_s: float = Field(5.0, gt=0)
    pool_timeout_s: float = Field(10.0, gt=0, description="Wait for a free pooled connection")
    auto_migrate: bool = Field(True, description=_AUTO_MIGRATE)
    text_cache_mb: int = Field(DEFAULT_TEXT_CACHE_MB, ge=0, le=65_536, description=_TEXT_CACHE)
    search_language: SearchLanguage = Field(
        "english",
        description="PostgreSQL's text search configuration for stemming: english, french, "
        "german... or simple (no stemming)",
    )

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        if not value.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
            raise ValueError("must start with postgresql://")
        return value


def _sqlite(options: SqliteOptions, site: Any) -> SqlStorage:
    return SqlStorage.sqlite(
        site.settings.resolve_path(options.path),
        fields=site.fields,
        busy_timeout_ms=options.busy_timeout_ms,
        auto_migrate=options.auto_migrate,
        text_cache_mb=options.text_cache_mb,
    )


def _postgres(options: PostgresOptions, site: Any) -> SqlStorage:
    return SqlStorage.postgres(
        options.url,
        fields=site.fields,
        pool_size=options.pool_size,
        max_overflow=options.max_overflow,
        statement_timeout_ms=options.statement_timeout_ms,
        connect_timeout_s=options.connect_timeout_s,
        pool_timeout_s=options.pool_timeout_s,
        auto_migrate=options.auto_migrate,
        text_cache_mb=options.text_cache_mb,
        search_language=options.search_language,
    )


@hookimpl
def register_storage_backends() -> list[StorageBackend]:
    return [
        StorageBackend("sqlite", SqliteOptions, _sqlite, "SQLite file (the embedded default)"),
        StorageBackend("postgres", PostgresOptions, _postgres, "PostgreSQL server"),
    ]
