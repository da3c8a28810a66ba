"""CO2e per order (GLEC v3 / ISO 14083): the operator's emission factors per vehicle type,
seeded with GLEC defaults; the route's vehicle type; each order's figure, inputs and day

Revision ID: 0010
Revises: 0009
"""
from datetime import datetime, timezone
from typing import Sequence, Union

import sqlalchemy as sa

import services.common.db
from alembic import op

revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# The defaults as they were when this ran (services.orders.emissions.DEFAULT_FACTORS may change
# later; a migration must not): vehicle_type, label, g CO2e WTW per unit, unit, default load kg.
GLEC = "GLEC Framework v3 (2023) default road intensity, Europe, diesel, average/mixed load, WTW"
FACTORS = [
    ("van", "Van up to 3.5 t", "587", "tkm", "250", GLEC),
    ("rigid_3_5_7_5t", "Rigid truck 3.5-7.5 t", "310", "tkm", "500", GLEC),
    ("rigid_7_5_12t", "Rigid truck 7.5-12 t", "206", "tkm", "1000", GLEC),
    ("rigid_12_20t", "Rigid truck 12-20 t", "163", "tkm", "2000", GLEC),
    ("rigid_20_26t", "Rigid truck 20-26 t", "121", "tkm", "4000", GLEC),
    ("rigid_26_32t", "Rigid truck 26-32 t", "100", "tkm", "6000", GLEC),
    ("articulated_34_40t", "Articulated truck 34-40 t", "76", "tkm", "10000", GLEC),
    ("articulated_40_44t", "Articulated truck 40-44 t", "71", "tkm", "12000", GLEC),
    ("bus", "Bus or coach (per passenger-km)", "30", "pkm", None,
     "Coach average per passenger-km (DEFRA/EEA range; GLEC has no passenger value)"),
]


def upgrade() -> None:
    factors = op.create_table(
        'emission_factors',
        sa.Column('vehicle_type', sa.String(length=64), nullable=False),
        sa.Column('label', sa.String(length=120), nullable=False),
        sa.Column('intensity', sa.Numeric(precision=10, scale=3), nullable=False),
        sa.Column('unit', sa.String(length=8), nullable=False),
        sa.Column('default_load_kg', sa.Numeric(precision=10, scale=1), nullable=True),
        sa.Column('source', sa.Text(), nullable=False),
        sa.Column('updated_at', services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_by', sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint('vehicle_type', name=op.f('pk_emission_factors')),
    )
    now = datetime.now(timezone.utc)
    op.bulk_insert(factors, [
        {"vehicle_type": key, "label": label, "intensity": intensity, "unit": unit,
         "default_load_kg": load, "source": source, "updated_at": now}
        for key, label, intensity, unit, load, source in FACTORS], multiinsert=False)
    with op.batch_alter_table('routes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('vehicle_type', sa.String(length=64), nullable=True))
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('co2e_kg', sa.Numeric(precision=14, scale=3), nullable=True))
        batch_op.add_column(sa.Column('emissions', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('emissions_on', sa.Date(), nullable=True))
        batch_op.create_index('ix_orders_customer_emissions_on', ['customer_id', 'emissions_on'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_customer_emissions_on')
        batch_op.drop_column('emissions_on')
        batch_op.drop_column('emissions')
        batch_op.drop_column('co2e_kg')
    with op.batch_alter_table('routes', schema=None) as batch_op:
        batch_op.drop_column('vehicle_type')
    op.drop_table('emission_factors')
