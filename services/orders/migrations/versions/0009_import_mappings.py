"""import mappings, import-by-email addresses; imports remember their mapping, source and sender

Revision ID: 0009
Revises: 0008
"""
from typing import Sequence, Union

import sqlalchemy as sa

import services.common.db
from alembic import op

revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'import_mappings',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('customer_id', sa.String(length=36), nullable=False),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('columns', sa.JSON(), nullable=False),
        sa.Column('is_default', sa.Boolean(), nullable=False),
        sa.Column('created_by', sa.String(length=36), nullable=True),
        sa.Column('created_at', services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_import_mappings')),
        sa.UniqueConstraint('customer_id', 'name', name=op.f('uq_import_mappings_customer_id')),
    )
    with op.batch_alter_table('import_mappings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_mappings_customer_id'), ['customer_id'], unique=False)
    op.create_table(
        'import_addresses',
        sa.Column('customer_id', sa.String(length=36), nullable=False),
        sa.Column('token', sa.String(length=40), nullable=False),
        sa.Column('owner_id', sa.String(length=36), nullable=True),
        sa.Column('owner_role', sa.String(length=32), nullable=False),
        sa.Column('rotated_at', services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_import_addresses')),
        sa.UniqueConstraint('token', name=op.f('uq_import_addresses_token')),
    )
    with op.batch_alter_table('imports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mapping', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('mapping_name', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('source', sa.String(length=8), server_default='upload', nullable=False))
        batch_op.add_column(sa.Column('reply_to', sa.String(length=254), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('imports', schema=None) as batch_op:
        batch_op.drop_column('reply_to')
        batch_op.drop_column('source')
        batch_op.drop_column('mapping_name')
        batch_op.drop_column('mapping')
    op.drop_table('import_addresses')
    with op.batch_alter_table('import_mappings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_mappings_customer_id'))
    op.drop_table('import_mappings')
