"""Baseline: the core schema as it was when migrations moved to Alembic.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

from __future__ import annotations

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nothing to do: the tables, columns and indexes the core and the plugins declare are
    # created by comparing the declared schema with the database (migrations/__init__.py).
    # Later revisions hold only the core changes that comparison cannot make by itself.
    pass


def downgrade() -> None:
    pass
