"""Every table of the platform, imported in one place for Alembic and the test suite."""

from commonworks.core.auth.models import ApiToken, LoginFailure, User
from commonworks.core.database import Base
from commonworks.core.orgs.models import Organization
from commonworks.operations.models import DowntimeReason, MachineStateInterval, StateCursor, StateRuleRow
from commonworks.telemetry.models import (
    DeadLetter,
    Gateway,
    Line,
    Machine,
    MachineDataMark,
    RetentionPolicy,
    Rollup1h,
    Rollup1m,
    Sample,
    Site,
    Tag,
)

metadata = Base.metadata

__all__ = ["ApiToken", "DeadLetter", "DowntimeReason", "Gateway", "Line", "LoginFailure", "Machine", "MachineDataMark",
           "MachineStateInterval", "Organization", "RetentionPolicy", "Rollup1h", "Rollup1m", "Sample", "Site",
           "StateCursor", "StateRuleRow", "Tag", "User", "metadata"]
