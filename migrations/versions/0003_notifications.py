"""Empty: the notifications plugin's table (notifications_items) moved to the plugin's own branch.

Hubs before plugins owned their schema created ``notifications_items`` in the core's history. The
plugin owns it now: ``plugins/notifications/migrations/notifications_0001_items.py``
(revision ``notifications_0001``, branch ``notifications``) creates the table, or adopts it
where this revision already did. The id stays so that databases stamped with
it still upgrade.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
