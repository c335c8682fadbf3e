"""The core's Alembic history (installed as ``hub_migrations``): ``env.py`` and ``versions/``."""
