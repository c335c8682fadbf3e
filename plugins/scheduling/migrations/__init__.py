"""The scheduling plugin's Alembic branch (label ``scheduling``)."""
