"""walk-forward optimisations

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 09:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
import tradeopt_common.db.base

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('walk_forward_optimization',
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('dataset_id', sa.Uuid(), nullable=False),
    sa.Column('dataset_checksum', sa.String(length=64), nullable=False),
    sa.Column('algorithm', sa.String(length=16), nullable=False),
    sa.Column('objective', _json(), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('n_folds', sa.Integer(), nullable=False),
    sa.Column('request', _json(), nullable=False),
    sa.Column('progress', sa.Double(), nullable=False),
    sa.Column('folds', _json(), nullable=False),
    sa.Column('metrics', _json(), nullable=False),
    sa.Column('benchmarks', _json(), nullable=False),
    sa.Column('statistics', _json(), nullable=False),
    sa.Column('stability', _json(), nullable=False),
    sa.Column('bars', _json(), nullable=False),
    sa.Column('job_id', sa.Uuid(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('started_at', tradeopt_common.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', tradeopt_common.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', tradeopt_common.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', tradeopt_common.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_walk_forward_optimization')),
    schema='tuning'
    )
    op.create_index(op.f('ix_tuning_walk_forward_optimization_created_at'), 'walk_forward_optimization', ['created_at'], unique=False, schema='tuning')
    op.create_index(op.f('ix_tuning_walk_forward_optimization_dataset_id'), 'walk_forward_optimization', ['dataset_id'], unique=False, schema='tuning')
    op.create_index(op.f('ix_tuning_walk_forward_optimization_job_id'), 'walk_forward_optimization', ['job_id'], unique=False, schema='tuning')
    op.create_index(op.f('ix_tuning_walk_forward_optimization_status'), 'walk_forward_optimization', ['status'], unique=False, schema='tuning')


def downgrade() -> None:
    for column in ('status', 'job_id', 'dataset_id', 'created_at'):
        op.drop_index(op.f(f'ix_tuning_walk_forward_optimization_{column}'), table_name='walk_forward_optimization', schema='tuning')
    op.drop_table('walk_forward_optimization', schema='tuning')
