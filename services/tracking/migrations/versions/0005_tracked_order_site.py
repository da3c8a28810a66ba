"""the site (cost centre) of a tracked order

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 21:40:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Orders made before this carry no site: only users not limited to sites see them.
    op.add_column('tracked_orders', sa.Column('site', sa.String(length=32), nullable=True))


def downgrade() -> None:
    op.drop_column('tracked_orders', 'site')
