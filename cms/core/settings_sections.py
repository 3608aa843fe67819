"""The backend sections of settings (``[storage]``, ``[sessions]``, ``[images]``,
``[media]``: a backend name and its options, which the backend validates) and the
sections of the content model (``[revisions]``, ``[trash]``) and of signing in
(``[login]``, ``[passwords]``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "NO_IMAGES",
    "BackendSection",
    "ImagesSection",
    "LoginSection",
    "MediaSection",
    "MediaTarget",
    "PasswordsSection",
    "RevisionsSection",
    "Section",
    "SessionsSection",
    "StorageSection",
    "TrashSection",
]


class Section(BaseModel):
    """A settings table: unknown keys are errors; values never change once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class BackendSection(Section):
    backend: str
    options: dict[str, Any] = Field(default_factory=dict)


class StorageSection(BackendSection):
    backend: str = "sqlite"
    options: dict[str, Any] = Field(default_factory=lambda: {"path": "cms.db"})


class SessionsSection(BackendSection):
    backend: str = "cookie"
    #: Seconds a sign-in lasts at most, however active the session is (every store).
    absolute_timeout: int = Field(14 * 24 * 3600, ge=60, le=365 * 24 * 3600)


#: ``[images] backend = "none"``: a site without a media library (no uploads, no /media/).
NO_IMAGES = "none"


class ImagesSection(BackendSection):
    backend: str = "pillow"


class RevisionsSection(Section):
    """``[revisions]``: how many revisions each post keeps (the oldest go first)."""

    keep: int = Field(50, ge=1, le=10_000)


class TrashSection(Section):
    """``[trash]``: how many days a deleted post stays restorable."""

    days: int = Field(30, ge=1, le=3650)


class MediaTarget(Section):
    """``[media.targets.NAME]``: a store ``cms media migrate --to NAME`` copies into
    (``backend`` defaults to NAME)."""

    backend: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class MediaSection(BackendSection):
    """``[media]``: where the media library's files live (``local`` or ``s3``)."""

    backend: str = "local"
    targets: dict[str, MediaTarget] = Field(default_factory=dict)


class LoginSection(Section):
    """``[login]``: how many failed password attempts are allowed in ``failure_window``
    seconds before further attempts answer 429. Per address means per client IP address
    (an IPv6 address by its /64 network); 0 turns that ceiling off."""

    failure_window: int = Field(15 * 60, ge=60, le=24 * 3600)
    max_failures_per_account_and_address: int = Field(10, ge=1, le=100_000)
    max_failures_per_account: int = Field(100, ge=0, le=100_000)
    max_failures_per_address: int = Field(50, ge=0, le=100_000)

    @model_validator(mode="after")
    def _ceiling_above_the_lockout(self) -> LoginSection:
        # A lower per-account ceiling would let one address lock the owner out again.
        ceiling = self.max_failures_per_account
        if 0 < ceiling < self.max_failures_per_account_and_address:
            raise ValueError(
                f"max_failures_per_account = {ceiling} must be at least "
                "max_failures_per_account_and_address "
                f"({self.max_failures_per_account_and_address}), or 0 for no ceiling"
            )
        return self


class PasswordsSection(Section):
    """``[passwords]``: the Argon2id parameters new password hashes are made with (the
    defaults are argon2-cffi's, RFC 9106's second recommendation). Hashes made with
    other parameters keep working: Argon2 keeps its parameters in each hash."""

    time_cost: int = Field(3, ge=1, le=100)
    #: KiB of memory per hash.
    memory_cost: int = Field(65536, ge=8, le=4 * 1024 * 1024)
    parallelism: int = Field(4, ge=1, le=64)

    @model_validator(mode="after")
    def _enough_memory_for_the_lanes(self) -> PasswordsSection:
        if self.memory_cost < 8 * self.parallelism:
            raise ValueError(
                f"memory_cost = {self.memory_cost} must be at least 8 x parallelism "
                f"({8 * self.parallelism})"
            )
        return self
