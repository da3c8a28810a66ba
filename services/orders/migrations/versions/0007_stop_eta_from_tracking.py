"""stops keep tracking's latest ETA (stop.eta_changed): whether it is late and when it was decided

Revision ID: 0007
Revises: 0006
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

import services.common.db  # noqa: F401  (column types)

revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Nullable, no default: no table rewrite on PostgreSQL.
    with op.batch_alter_table('stops', schema=None) as batch_op:
        batch_op.add_column(sa.Column('eta_late', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('eta_at', services.common.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('stops', schema=None) as batch_op:
        batch_op.drop_column('eta_at')
        batch_op.drop_column('eta_late')
