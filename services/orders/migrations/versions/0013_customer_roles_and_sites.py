"""customer roles (issue 11): orders carry the customer's site / cost centre; the customer
settings copy keeps the sites and the approval limit; customer_user is now customer_booker

Revision ID: 0013
Revises: 0012
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: Union[str, Sequence[str], None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('customer_settings', sa.Column('sites', sa.JSON(), nullable=False, server_default='[]'))
    op.add_column('customer_settings', sa.Column('approval_limit', sa.JSON(), nullable=True))
    op.add_column('orders', sa.Column('site', sa.String(length=32), nullable=True))
    op.create_index('ix_orders_customer_site', 'orders', ['customer_id', 'site'], unique=False)
    op.execute("UPDATE imports SET created_by_role = 'customer_booker' WHERE created_by_role = 'customer_user'")


def downgrade() -> None:
    op.execute("UPDATE imports SET created_by_role = 'customer_user' "
               "WHERE created_by_role IN ('customer_booker', 'customer_viewer')")
    op.drop_index('ix_orders_customer_site', table_name='orders')
    op.drop_column('orders', 'site')
    op.drop_column('customer_settings', 'approval_limit')
    op.drop_column('customer_settings', 'sites')
