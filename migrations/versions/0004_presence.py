"""Empty: the presence plugin's table (presence_last_seen) moved to the plugin's own branch.

Hubs before plugins owned their schema created ``presence_last_seen`` in the core's history. The
plugin owns it now: ``plugins/presence/migrations/presence_0001_last_seen.py``
(revision ``presence_0001``, branch ``presence``) creates the table, or adopts it
where this revision already did. The id stays so that databases stamped with
it still upgrade.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
