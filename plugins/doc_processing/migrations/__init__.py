"""The doc_processing plugin's Alembic branch (label ``doc_processing``): one revision file per schema change."""
