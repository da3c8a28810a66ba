"""quote documents (the PDF of each revision and its SHA-256), quote signatures, quote deposits

Revision ID: 0006
Revises: 0005
"""
from typing import Sequence, Union

import sqlalchemy as sa
import services.common.db
from alembic import op

revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('quotes', sa.Column('deposit_percent', sa.Numeric(precision=5, scale=2), nullable=True))
    op.add_column('quotes', sa.Column('deposit_minor', sa.BigInteger(), nullable=True))
    op.create_table('quote_documents',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('quote_id', sa.String(length=36), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', services.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['quote_id'], ['quotes.id'], name=op.f('fk_quote_documents_quote_id_quotes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quote_documents')),
    sa.UniqueConstraint('quote_id', 'revision', name=op.f('uq_quote_documents_quote_id'))
    )
    op.create_index(op.f('ix_quote_documents_quote_id'), 'quote_documents', ['quote_id'], unique=False)
    op.create_table('quote_signatures',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('quote_id', sa.String(length=36), nullable=False),
    sa.Column('customer_id', sa.String(length=36), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('document_sha256', sa.String(length=64), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('signature_png', sa.LargeBinary(), nullable=False),
    sa.Column('signed_by', sa.String(length=36), nullable=True),
    sa.Column('signed_at', services.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('origin_network', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=64), nullable=True),
    sa.Column('deposit_minor', sa.BigInteger(), nullable=True),
    sa.Column('deposit_provider_ref', sa.String(length=64), nullable=True),
    sa.Column('deposit_card', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['quote_id'], ['quotes.id'], name=op.f('fk_quote_signatures_quote_id_quotes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quote_signatures')),
    sa.UniqueConstraint('quote_id', name=op.f('uq_quote_signatures_quote_id'))
    )
    op.create_index(op.f('ix_quote_signatures_customer_id'), 'quote_signatures', ['customer_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_quote_signatures_customer_id'), table_name='quote_signatures')
    op.drop_table('quote_signatures')
    op.drop_index(op.f('ix_quote_documents_quote_id'), table_name='quote_documents')
    op.drop_table('quote_documents')
    op.drop_column('quotes', 'deposit_minor')
    op.drop_column('quotes', 'deposit_percent')
