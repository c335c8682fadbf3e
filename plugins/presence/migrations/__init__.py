"""The presence plugin's Alembic branch (label ``presence``): one revision file per schema change."""
