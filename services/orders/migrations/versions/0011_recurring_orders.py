"""Recurring orders: customers' schedules that book an order's content again and again, and
one run per schedule and day (unique: each day is booked once)

Revision ID: 0011
Revises: 0010
"""
from typing import Sequence, Union

import sqlalchemy as sa

import services.common.db
from alembic import op

revision: str = '0011'
down_revision: Union[str, Sequence[str], None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'recurring_orders',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('customer_id', sa.String(length=36), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('order_id', sa.String(length=36), nullable=True),
        sa.Column('content', sa.JSON(), nullable=False),
        sa.Column('frequency', sa.String(length=16), nullable=False),
        sa.Column('weekdays', sa.JSON(), nullable=False),
        sa.Column('interval_days', sa.Integer(), nullable=True),
        sa.Column('starts_on', sa.Date(), nullable=False),
        sa.Column('ends_on', sa.Date(), nullable=True),
        sa.Column('time_of_day', sa.String(length=5), nullable=False),
        sa.Column('submit', sa.Boolean(), nullable=False),
        sa.Column('paused', sa.Boolean(), nullable=False),
        sa.Column('next_on', sa.Date(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_by', sa.String(length=36), nullable=True),
        sa.Column('created_at', services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recurring_orders')),
    )
    with op.batch_alter_table('recurring_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recurring_orders_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_recurring_orders_due', ['paused', 'next_on'], unique=False)
    op.create_table(
        'recurring_runs',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('recurring_id', sa.String(length=36), nullable=False),
        sa.Column('on', sa.Date(), nullable=False),
        sa.Column('order_id', sa.String(length=36), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['recurring_id'], ['recurring_orders.id'],
                                name=op.f('fk_recurring_runs_recurring_id_recurring_orders'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recurring_runs')),
        sa.UniqueConstraint('recurring_id', 'on', name=op.f('uq_recurring_runs_recurring_id')),
    )


def downgrade() -> None:
    op.drop_table('recurring_runs')
    with op.batch_alter_table('recurring_orders', schema=None) as batch_op:
        batch_op.drop_index('ix_recurring_orders_due')
        batch_op.drop_index(batch_op.f('ix_recurring_orders_customer_id'))
    op.drop_table('recurring_orders')
