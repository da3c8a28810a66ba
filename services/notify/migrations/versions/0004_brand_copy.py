"""brand copy: the operator's branding as identity announced it (branding.updated)

Revision ID: 0004
Revises: 0003
"""
from typing import Sequence, Union

from alembic import op

from services.common.brand import create_copy_table

revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    create_copy_table(op)


def downgrade() -> None:
    op.drop_table('brand_copy')
