"""The collab plugin's Alembic branch (label ``collab``): one revision file per schema change."""
