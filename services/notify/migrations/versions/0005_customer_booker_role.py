"""the customer_user role is called customer_booker (issue 11: admin, booker, viewer)

Revision ID: 0005
Revises: 0004
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute("UPDATE recipients SET role = 'customer_booker' WHERE role = 'customer_user'")


def downgrade() -> None:
    op.execute("UPDATE recipients SET role = 'customer_user' WHERE role IN ('customer_booker', 'customer_viewer')")
