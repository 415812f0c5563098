"""mentions, notification settings and push subscriptions

Mentions and notifications (issue 30): a message's resolved mentions (`messages.mentions`, as shown)
and `message_mentions`, one row per mentioned user, which unread mention counts and the Mentions view
read; notification settings per user and per group; Web Push subscriptions. AUTOINCREMENT on SQLite
like every table with an integer id (916b7c259899).

Revision ID: 3365edcb5854
Revises: 81f316133e2b
Create Date: 2026-12-05 21:15:54.958771
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = '3365edcb5854'
down_revision: str | None = '81f316133e2b'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
TIME = advanced_alchemy.types.datetime.DateTimeUTC(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mentions', sa.JSON(none_as_null=True), nullable=True))
    op.create_table(
        'message_mentions',
        sa.Column('user_id', ID, nullable=False),
        sa.Column('group_id', ID, nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ['group_id'], ['groups.id'], name=op.f('fk_message_mentions_group_id_groups'), ondelete='CASCADE'
        ),
        sa.ForeignKeyConstraint(
            ['user_id'], ['users.id'], name=op.f('fk_message_mentions_user_id_users'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('user_id', 'group_id', 'seq', name=op.f('pk_message_mentions')),
    )
    op.create_table(
        'notification_settings',
        sa.Column('user_id', ID, nullable=False),
        sa.Column('level', sa.String(length=16), nullable=False),
        sa.Column('mute_until', TIME, nullable=True),
        sa.Column('dnd_start', sa.SmallInteger(), nullable=True),
        sa.Column('dnd_end', sa.SmallInteger(), nullable=True),
        sa.Column('timezone', sa.String(length=64), nullable=False),
        sa.Column('previews', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ['user_id'], ['users.id'], name=op.f('fk_notification_settings_user_id_users'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_notification_settings')),
    )
    op.create_table(
        'group_notification_settings',
        sa.Column('user_id', ID, nullable=False),
        sa.Column('group_id', ID, nullable=False),
        sa.Column('level', sa.String(length=16), nullable=True),
        sa.Column('mute_until', TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ['group_id'],
            ['groups.id'],
            name=op.f('fk_group_notification_settings_group_id_groups'),
            ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['user_id'], ['users.id'], name=op.f('fk_group_notification_settings_user_id_users'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('user_id', 'group_id', name=op.f('pk_group_notification_settings')),
    )
    op.create_table(
        'push_subscriptions',
        sa.Column('id', ID, sa.Identity(always=False, start=1, increment=1), nullable=False),
        sa.Column('user_id', ID, nullable=False),
        sa.Column('endpoint', sa.String(length=2048), nullable=False),
        sa.Column('p256dh', sa.String(length=128), nullable=False),
        sa.Column('auth', sa.String(length=64), nullable=False),
        sa.Column('created_at', TIME, nullable=False),
        sa.Column('updated_at', TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ['user_id'], ['users.id'], name=op.f('fk_push_subscriptions_user_id_users'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_push_subscriptions')),
        sa.UniqueConstraint('endpoint', name=op.f('uq_push_subscriptions_endpoint')),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f('ix_push_subscriptions_user_id'), 'push_subscriptions', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_push_subscriptions_user_id'), table_name='push_subscriptions')
    op.drop_table('push_subscriptions')
    op.drop_table('group_notification_settings')
    op.drop_table('notification_settings')
    op.drop_table('message_mentions')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('mentions')
