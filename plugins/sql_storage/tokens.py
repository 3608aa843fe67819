"""API tokens in SQL: the token half of the storage contract, mixed into ``SqlStorage``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.engine import Row

from cms.contracts import ApiToken

from .parts import StorageParts
from .times import aware

__all__ = ["TokenQueries"]


class TokenQueries(StorageParts):
    """``create_token``, ``get_token``, ``get_token_by_hash``, ``list_tokens``,
    ``revoke_token`` and ``touch_token`` on the ``cms_tokens`` table."""

    def _token_select(self) -> Select[Any]:
        tokens, users = self.schema.tokens, self.schema.users
        return select(tokens, users.c.username).select_from(
            tokens.join(users, tokens.c.user_id == users.c.id)
        )

    @staticmethod
    def _to_token(row: Row[Any]) -> ApiToken:
        data = row._mapping
        created = aware(data["created_at"])
        assert created is not None
        return ApiToken(
            id=data["id"],
            user_id=data["user_id"],
            username=data["username"],
            label=data["label"],
            prefix=data["prefix"],
            created_at=created,
            expires_at=aware(data["expires_at"]),
            last_used_at=aware(data["last_used_at"]),
            revoked_at=aware(data["revoked_at"]),
        )

    async def create_token(
        self,
        user_id: int,
        token_hash: str,
        *,
        prefix: str,
        label: str = "",
        expires_at: datetime | None = None,
    ) -> ApiToken:
        tokens = self.schema.tokens
        async with self._writing() as conn:
            new_id = (
                await conn.execute(
                    tokens.insert()
                    .values(
                        user_id=user_id,
                        token_hash=token_hash,
                        prefix=prefix,
                        label=label,
                        created_at=datetime.now(UTC),
                        expires_at=aware(expires_at),
                    )
                    .returning(tokens.c.id)
                )
            ).scalar_one()
            row = (await conn.execute(self._token_select().where(tokens.c.id == new_id))).one()
        return self._to_token(row)

    async def get_token(self, token_id: int) -> ApiToken | None:
        tokens = self.schema.tokens
        async with self._reading() as conn:
            row = (await conn.execute(self._token_select().where(tokens.c.id == token_id))).first()
        return self._to_token(row) if row is not None else None

    async def get_token_by_hash(self, token_hash: str) -> ApiToken | None:
        tokens = self.schema.tokens
        async with self._reading() as conn:
            row = (
                await conn.execute(self._token_select().where(tokens.c.token_hash == token_hash))
            ).first()
        return self._to_token(row) if row is not None else None

    async def list_tokens(self, *, user_id: int | None = None) -> list[ApiToken]:
        tokens = self.schema.tokens
        query = self._token_select().order_by(tokens.c.id.desc())
        if user_id is not None:
            query = query.where(tokens.c.user_id == user_id)
        async with self._reading() as conn:
            rows = (await conn.execute(query)).all()
        return [self._to_token(row) for row in rows]

    async def revoke_token(self, token_id: int) -> ApiToken | None:
        tokens = self.schema.tokens
        async with self._writing() as conn:
            await conn.execute(
                tokens.update()
                .where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
            row = (await conn.execute(self._token_select().where(tokens.c.id == token_id))).first()
        return self._to_token(row) if row is not None else None

    async def touch_token(self, token_id: int, when: datetime) -> None:
        tokens = self.schema.tokens
        async with self._writing() as conn:
            await conn.execute(
                tokens.update().where(tokens.c.id == token_id).values(last_used_at=aware(when))
            )
