"""Sign-in attempts in SQL, shared by every worker: ``AttemptCounter`` for ``SqlStorage``."""

from __future__ import annotations

import time

from sqlalchemy import select, text

from .parts import StorageParts

__all__ = ["AttemptQueries"]

# Attempts older than this are deleted whatever their key (longer than any window we use).
_ATTEMPT_HORIZON = 24 * 3600


class AttemptQueries(StorageParts):
    """``record_attempt``, ``recent_attempts``, ``clear_attempts``, ``forget_attempt``."""

    async def record_attempt(self, key: str, window: int, limit: int) -> list[float] | None:
        attempts = self.schema.attempts
        now = time.time()
        async with self._writing() as conn:
            if not self.is_sqlite:
                # Serialise attempts on one key (SQLite's write lock does that already), so
                # concurrent attempts cannot all see a count under the limit.
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key}
                )
            # Old rows of every key go here, so the table never grows past one horizon.
            await conn.execute(attempts.delete().where(attempts.c.at < now - _ATTEMPT_HORIZON))
            times = [
                float(at)
                for at in (
                    await conn.execute(
                        select(attempts.c.at).where(
                            attempts.c.key == key, attempts.c.at >= now - window
                        )
                    )
                ).scalars()
            ]
            if len(times) >= limit:
                return sorted(times)
            await conn.execute(attempts.insert().values(key=key, at=now))
        return None

    async def recent_attempts(self, key: str, window: int) -> list[float]:
        attempts = self.schema.attempts
        since = time.time() - window
        async with self._reading() as conn:
            rows = await conn.execute(
                select(attempts.c.at)
                .where(attempts.c.key == key, attempts.c.at >= since)
                .order_by(attempts.c.at)
            )
            return [float(at) for at in rows.scalars()]

    async def clear_attempts(self, key: str) -> None:
        attempts = self.schema.attempts
        async with self._writing() as conn:
            await conn.execute(attempts.delete().where(attempts.c.key == key))

    async def forget_attempt(self, key: str) -> None:
        attempts = self.schema.attempts
        async with self._writing() as conn:
            if not self.is_sqlite:
                # Under the key's lock too, so two at once forget two rows, not one twice.
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key}
                )
            newest = (
                select(attempts.c.id)
                .where(attempts.c.key == key)
                .order_by(attempts.c.at.desc(), attempts.c.id.desc())
                .limit(1)
                .scalar_subquery()
            )
            await conn.execute(attempts.delete().where(attempts.c.id == newest))
