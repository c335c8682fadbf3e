"""The notifications plugin's Alembic branch (label ``notifications``): one revision file per schema change."""
