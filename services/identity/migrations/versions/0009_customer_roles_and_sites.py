"""customer roles (issue 11): customer_user becomes customer_booker beside the new
customer_viewer; customers' sites and approval limit; users and invites limited to sites

Revision ID: 0009
Revises: 0008
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('customers', sa.Column('sites', sa.JSON(), nullable=False, server_default='[]'))
    op.add_column('customers', sa.Column('approval_limit', sa.JSON(), nullable=True))
    op.add_column('users', sa.Column('sites', sa.JSON(), nullable=True))
    op.add_column('invites', sa.Column('sites', sa.JSON(), nullable=True))
    for table in ('users', 'invites'):
        op.execute(f"UPDATE {table} SET role = 'customer_booker' WHERE role = 'customer_user'")


def downgrade() -> None:
    for table in ('users', 'invites'):
        op.execute(f"UPDATE {table} SET role = 'customer_user' WHERE role IN ('customer_booker', 'customer_viewer')")
    op.drop_column('invites', 'sites')
    op.drop_column('users', 'sites')
    op.drop_column('customers', 'approval_limit')
    op.drop_column('customers', 'sites')
