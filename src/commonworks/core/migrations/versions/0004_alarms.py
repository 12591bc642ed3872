"""alarms

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from commonworks.core.database import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alarm_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("machine_id", sa.Integer(), nullable=True),
        sa.Column("machine_type", sa.String(length=32), nullable=True),
        sa.Column("tag", sa.String(length=100), nullable=True),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("limit", sa.Double(), nullable=True),
        sa.Column("deadband", sa.Double(), nullable=False),
        sa.Column("delay_s", sa.Double(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=True),
        sa.Column("duration_s", sa.Double(), nullable=True),
        sa.Column(
            "severity",
            sa.Enum("info", "warning", "critical", name="alarm_severity", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("webhook_url", sa.String(length=500), nullable=True),
        sa.Column("max_notifications_per_hour", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("shelved_until", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["machine_id"], ["machines.id"], name=op.f("fk_alarm_rules_machine_id_machines"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_alarm_rules_org_id_organizations"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_rules")),
    )
    with op.batch_alter_table("alarm_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alarm_rules_machine_id"), ["machine_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alarm_rules_org_id"), ["org_id"], unique=False)

    op.create_table(
        "alarm_conditions",
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("machine_id", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("pending_since", sa.BigInteger(), nullable=True),
        sa.Column("since", sa.BigInteger(), nullable=True),
        sa.Column("last_ts", sa.BigInteger(), nullable=True),
        sa.Column("last_value", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["machine_id"], ["machines.id"], name=op.f("fk_alarm_conditions_machine_id_machines"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["alarm_rules.id"], name=op.f("fk_alarm_conditions_rule_id_alarm_rules"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("rule_id", "machine_id", name=op.f("pk_alarm_conditions")),
    )
    op.create_table(
        "alarms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("machine_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("active", "acknowledged", "cleared", name="alarm_status", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column(
            "severity",
            sa.Enum("info", "warning", "critical", name="alarm_severity", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("message", sa.String(length=300), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("raised_ms", sa.BigInteger(), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("acknowledged_by", sa.Integer(), nullable=True),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
        sa.Column("cleared_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"], ["users.id"], name=op.f("fk_alarms_acknowledged_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["machine_id"], ["machines.id"], name=op.f("fk_alarms_machine_id_machines"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_alarms_org_id_organizations"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["alarm_rules.id"], name=op.f("fk_alarms_rule_id_alarm_rules"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarms")),
    )
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alarms_machine_id"), ["machine_id"], unique=False)
        batch_op.create_index(
            "ix_alarms_open",
            ["rule_id", "machine_id"],
            unique=True,
            sqlite_where=sa.text("status != 'cleared'"),
            postgresql_where=sa.text("status != 'cleared'"),
        )
        batch_op.create_index("ix_alarms_org_raised", ["org_id", "raised_ms"], unique=False)

    op.create_table(
        "alarm_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("alarm_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=20), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_ms", sa.BigInteger(), nullable=False),
        sa.Column("delivered_ms", sa.BigInteger(), nullable=True),
        sa.Column("failed", sa.Boolean(), nullable=False),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["alarm_id"], ["alarms.id"], name=op.f("fk_alarm_notifications_alarm_id_alarms"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_alarm_notifications_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_notifications")),
    )
    with op.batch_alter_table("alarm_notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alarm_notifications_alarm_id"), ["alarm_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alarm_notifications_next_attempt_ms"), ["next_attempt_ms"], unique=False)
        batch_op.create_index(batch_op.f("ix_alarm_notifications_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alarm_notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alarm_notifications_org_id"))
        batch_op.drop_index(batch_op.f("ix_alarm_notifications_next_attempt_ms"))
        batch_op.drop_index(batch_op.f("ix_alarm_notifications_alarm_id"))

    op.drop_table("alarm_notifications")
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.drop_index("ix_alarms_org_raised")
        batch_op.drop_index(
            "ix_alarms_open",
            sqlite_where=sa.text("status != 'cleared'"),
            postgresql_where=sa.text("status != 'cleared'"),
        )
        batch_op.drop_index(batch_op.f("ix_alarms_machine_id"))

    op.drop_table("alarms")
    op.drop_table("alarm_conditions")
    with op.batch_alter_table("alarm_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alarm_rules_org_id"))
        batch_op.drop_index(batch_op.f("ix_alarm_rules_machine_id"))

    op.drop_table("alarm_rules")
