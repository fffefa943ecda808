"""Alembic environment and versions of the docsum schema (run them with `docsum db upgrade` or db.migrate)."""
