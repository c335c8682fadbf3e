"""The analytics plugin's Alembic branch (label ``analytics``): one revision file per schema change."""
