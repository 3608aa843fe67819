"""Users in SQL: the user half of the storage contract, mixed into ``SqlStorage``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, select, text
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from cms.contracts import Role, User, UsernameTaken

from .parts import StorageParts
from .times import aware

__all__ = ["UserQueries"]


class UserQueries(StorageParts):
    """Users, their roles and the generation that ends their sessions."""

    _user_by_id: Select[Any]

    def _build_user_reads(self) -> None:
        users = self.schema.users
        self._user_by_id = select(users).where(users.c.id == bindparam("id"))

    @staticmethod
    def _to_user(row: Row[Any] | Mapping[str, Any]) -> User:
        data = row._mapping if isinstance(row, Row) else row
        return User(
            id=data["id"],
            username=data["username"],
            role=data["role"],
            password_hash=data["password_hash"],
            is_active=bool(data["is_active"]),
            session_generation=data["session_generation"],
            created_at=aware(data["created_at"]),
            display_name=data["display_name"],
            bio=data["bio"],
            avatar=data["avatar"],
        )

    async def count_users(self) -> int:
        async with self._reading() as conn:
            count = (
                await conn.execute(select(func.count()).select_from(self.schema.users))
            ).scalar_one()
        return int(count)

    async def create_user(
        self, username: str, password_hash: str, role: Role, *, only_if_first: bool = False
    ) -> User | None:
        users = self.schema.users
        try:
            async with self._writing() as conn:
                if only_if_first:
                    if not self.is_sqlite:
                        await conn.execute(text("LOCK TABLE cms_users IN EXCLUSIVE MODE"))
                    count = (
                        await conn.execute(select(func.count()).select_from(users))
                    ).scalar_one()
                    if count:
                        return None
                new_id = (
                    await conn.execute(
                        users.insert()
                        .values(
                            username=username,
                            username_key=username.lower(),
                            password_hash=password_hash,
                            role=role,
                            is_active=True,
                            session_generation=0,
                            created_at=datetime.now(UTC),
                        )
                        .returning(users.c.id)
                    )
                ).scalar_one()
                row = (await conn.execute(select(users).where(users.c.id == new_id))).one()
                return self._to_user(row)
        except IntegrityError:
            raise UsernameTaken(username) from None

    async def get_user(self, user_id: int) -> User | None:
        rows = await self._read_rows(self._user_by_id, id=user_id)
        return self._to_user(rows[0]) if rows else None

    async def get_user_by_username(self, username: str) -> User | None:
        users = self.schema.users
        async with self._reading() as conn:
            row = (
                await conn.execute(select(users).where(users.c.username_key == username.lower()))
            ).first()
        return self._to_user(row) if row is not None else None

    async def bump_session_generation(self, user_id: int) -> int:
        users = self.schema.users
        async with self._writing() as conn:
            generation = (
                await conn.execute(
                    users.update()
                    .where(users.c.id == user_id)
                    .values(session_generation=users.c.session_generation + 1)
                    .returning(users.c.session_generation)
                )
            ).scalar_one_or_none()
        return int(generation or 0)

    async def list_users(self) -> list[User]:
        users = self.schema.users
        async with self._reading() as conn:
            rows = (await conn.execute(select(users).order_by(users.c.username_key))).all()
        return [self._to_user(row) for row in rows]

    async def update_user(
        self,
        user_id: int,
        *,
        role: Role | None = None,
        is_active: bool | None = None,
        password_hash: str | None = None,
    ) -> User:
        users = self.schema.users
        values: dict[str, Any] = {}
        if role is not None:
            values["role"] = role
        if is_active is not None:
            values["is_active"] = is_active
        if password_hash is not None:
            values["password_hash"] = password_hash
        if password_hash is not None or is_active is False:
            values["session_generation"] = users.c.session_generation + 1
        async with self._writing() as conn:
            if values:
                await conn.execute(users.update().where(users.c.id == user_id).values(**values))
            row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
        if row is None:
            raise LookupError(f"no user with id {user_id}")
        return self._to_user(row)

    async def update_profile(
        self, user_id: int, *, display_name: str | None, bio: str | None, avatar: str | None
    ) -> User:
        users = self.schema.users
        async with self._writing() as conn:
            row = (
                await conn.execute(
                    users.update()
                    .where(users.c.id == user_id)
                    .values(display_name=display_name, bio=bio, avatar=avatar)
                    .returning(*users.c)
                )
            ).first()
        if row is None:
            raise LookupError(user_id)
        return self._to_user(row)
