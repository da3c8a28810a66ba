"""the order's price (from billing's order.priced, or the accepted quote's total)

Revision ID: 0005
Revises: 0004
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

import services.common.db  # noqa: F401  (column types)

revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Nullable columns without defaults: no table rewrite on PostgreSQL, a plain ADD COLUMN on
    # SQLite. Orders submitted before this wait for their price like new ones.
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('price', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('priced_at', services.common.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('priced_at')
        batch_op.drop_column('price')
