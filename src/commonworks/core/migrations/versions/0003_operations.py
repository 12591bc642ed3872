"""operations

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from commonworks.core.database import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "downtime_reasons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name_zh", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "planned",
                "unplanned",
                "changeover",
                "quality",
                "material",
                "no_orders",
                "personnel",
                "other",
                name="reason_category",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "loss",
            sa.Enum(
                "planned",
                "breakdown",
                "setup_adjustment",
                "small_stops",
                "reduced_speed",
                "startup_rejects",
                "production_rejects",
                name="loss_kind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_downtime_reasons_org_id_organizations"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["downtime_reasons.id"],
            name=op.f("fk_downtime_reasons_parent_id_downtime_reasons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_downtime_reasons")),
        sa.UniqueConstraint("org_id", "code", name=op.f("uq_downtime_reasons_org_id")),
    )
    with op.batch_alter_table("downtime_reasons", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_downtime_reasons_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_downtime_reasons_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "machine_counts",
        sa.Column("machine_id", sa.Integer(), nullable=False),
        sa.Column("hour_ms", sa.BigInteger(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("produced", sa.Integer(), nullable=False),
        sa.Column("good", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["machine_id"], ["machines.id"], name=op.f("fk_machine_counts_machine_id_machines"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_machine_counts_org_id_organizations"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("machine_id", "hour_ms", name=op.f("pk_machine_counts")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("machine_counts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_machine_counts_org_id"), ["org_id"], unique=False)

    op.create_table(
        "machine_data_marks",
        sa.Column("machine_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("from_ms", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["machine_id"], ["machines.id"], name=op.f("fk_machine_data_marks_machine_id_machines"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_machine_data_marks_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("machine_id", name=op.f("pk_machine_data_marks")),
    )
    with op.batch_alter_table("machine_data_marks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_machine_data_marks_org_id"), ["org_id"], unique=False)

    op.create_table(
        "machine_state_cursors",
        sa.Column("machine_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("derived_until_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["machine_id"],
            ["machines.id"],
            name=op.f("fk_machine_state_cursors_machine_id_machines"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_machine_state_cursors_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("machine_id", name=op.f("pk_machine_state_cursors")),
    )
    with op.batch_alter_table("machine_state_cursors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_machine_state_cursors_org_id"), ["org_id"], unique=False)

    op.create_table(
        "machine_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("machine_id", sa.Integer(), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "producing",
                "idle",
                "setup",
                "down_unplanned",
                "down_planned",
                "offline",
                name="machine_state",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("reason_id", sa.Integer(), nullable=True),
        sa.Column("reason_by", sa.Integer(), nullable=True),
        sa.Column("reason_at", UTCDateTime(), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["machine_id"], ["machines.id"], name=op.f("fk_machine_states_machine_id_machines"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_machine_states_org_id_organizations"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["reason_by"], ["users.id"], name=op.f("fk_machine_states_reason_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["reason_id"],
            ["downtime_reasons.id"],
            name=op.f("fk_machine_states_reason_id_downtime_reasons"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_machine_states")),
    )
    with op.batch_alter_table("machine_states", schema=None) as batch_op:
        batch_op.create_index("ix_machine_states_machine_start", ["machine_id", "start_ms"], unique=True)
        batch_op.create_index("ix_machine_states_cover", ["machine_id", "start_ms", "end_ms", "state"], unique=False)
        batch_op.create_index(batch_op.f("ix_machine_states_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_machine_states_reason_id"), ["reason_id"], unique=False)

    op.create_table(
        "shift_calendars",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("line_id", sa.Integer(), nullable=True),
        sa.Column("machine_id", sa.Integer(), nullable=True),
        sa.Column("shifts", sa.JSON(), nullable=False),
        sa.Column("exceptions", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["line_id"], ["lines.id"], name=op.f("fk_shift_calendars_line_id_lines"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["machine_id"], ["machines.id"], name=op.f("fk_shift_calendars_machine_id_machines"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_shift_calendars_org_id_organizations"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_shift_calendars_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shift_calendars")),
    )
    with op.batch_alter_table("shift_calendars", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shift_calendars_line_id"), ["line_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_shift_calendars_machine_id"), ["machine_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_shift_calendars_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_shift_calendars_site_id"), ["site_id"], unique=False)

    op.create_table(
        "state_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("machine_type", sa.String(length=32), nullable=True),
        sa.Column("machine_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state_tag", sa.String(length=100), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("speed_tag", sa.String(length=100), nullable=False),
        sa.Column("counter_tag", sa.String(length=100), nullable=False),
        sa.Column("good_tag", sa.String(length=100), nullable=True),
        sa.Column("scrap_tag", sa.String(length=100), nullable=True),
        sa.Column("speed_threshold", sa.Double(), nullable=False),
        sa.Column("counter_window_s", sa.Double(), nullable=False),
        sa.Column("offline_after_s", sa.Double(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["machine_id"], ["machines.id"], name=op.f("fk_state_rules_machine_id_machines"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_state_rules_org_id_organizations"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_state_rules")),
    )
    with op.batch_alter_table("state_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_state_rules_machine_id"), ["machine_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_state_rules_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("state_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_state_rules_org_id"))
        batch_op.drop_index(batch_op.f("ix_state_rules_machine_id"))

    op.drop_table("state_rules")
    with op.batch_alter_table("shift_calendars", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shift_calendars_site_id"))
        batch_op.drop_index(batch_op.f("ix_shift_calendars_org_id"))
        batch_op.drop_index(batch_op.f("ix_shift_calendars_machine_id"))
        batch_op.drop_index(batch_op.f("ix_shift_calendars_line_id"))

    op.drop_table("shift_calendars")
    with op.batch_alter_table("machine_states", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_machine_states_reason_id"))
        batch_op.drop_index(batch_op.f("ix_machine_states_org_id"))
        batch_op.drop_index("ix_machine_states_cover")
        batch_op.drop_index("ix_machine_states_machine_start")

    op.drop_table("machine_states")
    with op.batch_alter_table("machine_state_cursors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_machine_state_cursors_org_id"))

    op.drop_table("machine_state_cursors")
    with op.batch_alter_table("machine_data_marks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_machine_data_marks_org_id"))

    op.drop_table("machine_data_marks")
    with op.batch_alter_table("machine_counts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_machine_counts_org_id"))

    op.drop_table("machine_counts")
    with op.batch_alter_table("downtime_reasons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_downtime_reasons_parent_id"))
        batch_op.drop_index(batch_op.f("ix_downtime_reasons_org_id"))

    op.drop_table("downtime_reasons")
