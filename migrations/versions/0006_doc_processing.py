"""Empty: the doc_processing plugin's table (doc_processing_jobs) moved to the plugin's own branch.

Hubs before plugins owned their schema created ``doc_processing_jobs`` in the core's history. The
plugin owns it now: ``plugins/doc_processing/migrations/doc_processing_0001_jobs.py``
(revision ``doc_processing_0001``, branch ``doc_processing``) creates the table, or adopts it
where this revision already did. The id stays so that databases stamped with
it still upgrade.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
