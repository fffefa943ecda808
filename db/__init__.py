"""The database layer: tables (`db.models`), engines and sessions (`db.session`), the only writer of status
columns (`db.status`), and Alembic upgrades from code (`db.migrate`)."""
