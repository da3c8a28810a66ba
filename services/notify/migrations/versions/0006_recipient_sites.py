"""users limited to some sites (issue 11) are told only of their sites' orders: recipients.sites
and order_facts.site

Revision ID: 0006
Revises: 0005
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('recipients', sa.Column('sites', sa.JSON(), nullable=True))
    op.add_column('order_facts', sa.Column('site', sa.String(length=32), nullable=True))


def downgrade() -> None:
    op.drop_column('order_facts', 'site')
    op.drop_column('recipients', 'sites')
