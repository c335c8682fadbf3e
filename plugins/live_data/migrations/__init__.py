"""The live_data plugin's Alembic branch (label ``live_data``)."""
