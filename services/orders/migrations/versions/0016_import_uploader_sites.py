"""imports.created_by_sites: a user limited to some sites imports as it books, the worker
applying its sites to every row

Revision ID: 0016
Revises: 0015
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: Union[str, Sequence[str], None] = '0015'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('imports', sa.Column('created_by_sites', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column('imports', 'created_by_sites')
