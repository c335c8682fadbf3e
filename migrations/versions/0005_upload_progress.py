"""Empty: the upload_progress plugin's table (upload_progress_uploads) moved to the plugin's own branch.

Hubs before plugins owned their schema created ``upload_progress_uploads`` in the core's history. The
plugin owns it now: ``plugins/upload_progress/migrations/upload_progress_0001_uploads.py``
(revision ``upload_progress_0001``, branch ``upload_progress``) creates the table, or adopts it
where this revision already did. The id stays so that databases stamped with
it still upgrade.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
