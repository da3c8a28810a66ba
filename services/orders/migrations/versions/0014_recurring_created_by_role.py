"""order approval (issue 11): a recurring schedule remembers the role of the one who saved it,
since its orders count as theirs for the customer's approval limit

Revision ID: 0014
Revises: 0013
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: Union[str, Sequence[str], None] = '0013'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('recurring_orders', sa.Column('created_by_role', sa.String(length=32), nullable=True))


def downgrade() -> None:
    op.drop_column('recurring_orders', 'created_by_role')
