"""Delivery exceptions (a late or failed stop the customer or the recipient can act on) and the
reschedule requests grown into delivery-change requests: a kind (window | instructions |
address), the window optional, the instructions or address asked, the exception answered and
where it was asked (portal or a tracking link)

Revision ID: 0012
Revises: 0011
"""
from typing import Sequence, Union

import sqlalchemy as sa

import services.common.db
from alembic import op

revision: str = '0012'
down_revision: Union[str, Sequence[str], None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'delivery_exceptions',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('customer_id', sa.String(length=36), nullable=False),
        sa.Column('order_id', sa.String(length=36), nullable=False),
        sa.Column('stop_id', sa.String(length=36), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('created_at', services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('resolved_at', services.common.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_delivery_exceptions_order_id_orders'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_exceptions')),
    )
    with op.batch_alter_table('delivery_exceptions', schema=None) as batch_op:
        batch_op.create_index('ix_delivery_exceptions_customer_status', ['customer_id', 'status', 'created_at'])
        batch_op.create_index('ix_delivery_exceptions_stop_status', ['stop_id', 'status'])
        batch_op.create_index(batch_op.f('ix_delivery_exceptions_order_id'), ['order_id'], unique=False)
    with op.batch_alter_table('reschedule_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), nullable=False, server_default='window'))
        batch_op.add_column(sa.Column('instructions', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('address', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('exception_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('requested_via', sa.String(length=16), nullable=False,
                                      server_default='portal'))
        batch_op.alter_column('window_start', existing_type=services.common.db.UTCDateTime(timezone=True), nullable=True)
        batch_op.alter_column('window_end', existing_type=services.common.db.UTCDateTime(timezone=True), nullable=True)
        batch_op.create_index(batch_op.f('ix_reschedule_requests_exception_id'), ['exception_id'], unique=False)


def downgrade() -> None:
    op.execute("DELETE FROM reschedule_requests WHERE kind <> 'window'")
    with op.batch_alter_table('reschedule_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reschedule_requests_exception_id'))
        batch_op.alter_column('window_end', existing_type=services.common.db.UTCDateTime(timezone=True), nullable=False)
        batch_op.alter_column('window_start', existing_type=services.common.db.UTCDateTime(timezone=True), nullable=False)
        for name in ('requested_via', 'exception_id', 'address', 'instructions', 'kind'):
            batch_op.drop_column(name)
    op.drop_table('delivery_exceptions')
