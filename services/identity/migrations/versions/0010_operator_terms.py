"""the operator's terms (issue 11, sign and accept): each uploaded version and the customers'
signatures of them

Revision ID: 0010
Revises: 0009
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import services.common.db

revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('terms_versions',
    sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('blob_key', sa.String(length=200), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('pages', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=True),
    sa.Column('uploaded_at', services.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('uploaded_by', sa.String(length=36), nullable=True),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_terms_versions'))
    )
    op.create_table('terms_signatures',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('customer_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('document_sha256', sa.String(length=64), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('signature_png', sa.LargeBinary(), nullable=False),
    sa.Column('signed_by', sa.String(length=36), nullable=True),
    sa.Column('signed_at', services.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('origin_network', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_terms_signatures_customer_id_customers'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['version'], ['terms_versions.version'],
                            name=op.f('fk_terms_signatures_version_terms_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_terms_signatures')),
    sa.UniqueConstraint('customer_id', 'version', name=op.f('uq_terms_signatures_customer_id'))
    )
    op.create_index(op.f('ix_terms_signatures_version'), 'terms_signatures', ['version'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_terms_signatures_version'), table_name='terms_signatures')
    op.drop_table('terms_signatures')
    op.drop_table('terms_versions')
