"""Versioned Alembic revisions of the core schema (see docs/storage.md, "Migrations")."""
