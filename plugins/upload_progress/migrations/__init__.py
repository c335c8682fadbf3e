"""The upload_progress plugin's Alembic branch (label ``upload_progress``): one revision file per schema change."""
