"""sign and accept (issue 11): the contract PDF attached to a rental contract, and the customer's
signature of it

Revision ID: 0015
Revises: 0014
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import services.common.db

revision: str = '0015'
down_revision: Union[str, Sequence[str], None] = '0014'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('rental_documents',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('contract_id', sa.String(length=36), nullable=False),
    sa.Column('customer_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('blob_key', sa.String(length=200), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('pages', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=True),
    sa.Column('attached_at', services.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('attached_by', sa.String(length=36), nullable=True),
    sa.ForeignKeyConstraint(['contract_id'], ['rental_contracts.id'],
                            name=op.f('fk_rental_documents_contract_id_rental_contracts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rental_documents')),
    sa.UniqueConstraint('contract_id', 'version', name=op.f('uq_rental_documents_contract_id'))
    )
    op.create_index(op.f('ix_rental_documents_customer_id'), 'rental_documents', ['customer_id'], unique=False)
    op.create_table('rental_signatures',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('document_id', sa.String(length=36), nullable=False),
    sa.Column('contract_id', sa.String(length=36), nullable=False),
    sa.Column('customer_id', sa.String(length=36), nullable=False),
    sa.Column('document_sha256', sa.String(length=64), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('signature_png', sa.LargeBinary(), nullable=False),
    sa.Column('signed_by', sa.String(length=36), nullable=True),
    sa.Column('signed_at', services.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('origin_network', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['contract_id'], ['rental_contracts.id'],
                            name=op.f('fk_rental_signatures_contract_id_rental_contracts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['document_id'], ['rental_documents.id'],
                            name=op.f('fk_rental_signatures_document_id_rental_documents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rental_signatures')),
    sa.UniqueConstraint('document_id', name=op.f('uq_rental_signatures_document_id'))
    )
    op.create_index(op.f('ix_rental_signatures_contract_id'), 'rental_signatures', ['contract_id'], unique=False)
    op.create_index(op.f('ix_rental_signatures_customer_id'), 'rental_signatures', ['customer_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_rental_signatures_customer_id'), table_name='rental_signatures')
    op.drop_index(op.f('ix_rental_signatures_contract_id'), table_name='rental_signatures')
    op.drop_table('rental_signatures')
    op.drop_index(op.f('ix_rental_documents_customer_id'), table_name='rental_documents')
    op.drop_table('rental_documents')
