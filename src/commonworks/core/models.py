"""Every table of the platform, imported in one place for Alembic and the test suite."""

from commonworks.core.auth.models import ApiToken, LoginFailure, User
from commonworks.core.database import Base
from commonworks.core.orgs.models import Organization
from commonworks.network.models import (
    Capability,
    CapacityBooking,
    CapacityOffer,
    Demand,
    NetworkProfile,
    Order,
    Quote,
    Rating,
)
from commonworks.operations.models import (
    Alarm,
    AlarmConditionState,
    AlarmNotification,
    AlarmRule,
    DowntimeReason,
    MachineCount,
    MachineStateInterval,
    ShiftCalendar,
    StateCursor,
    StateRuleRow,
)
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

__all__ = ["Alarm", "AlarmConditionState", "AlarmNotification", "AlarmRule", "ApiToken", "Capability",
           "CapacityBooking", "CapacityOffer", "DeadLetter", "Demand", "DowntimeReason", "Gateway", "Line",
           "LoginFailure", "Machine", "MachineCount", "MachineDataMark", "MachineStateInterval", "NetworkProfile",
           "Order", "Organization", "Quote", "Rating", "RetentionPolicy", "Rollup1h", "Rollup1m", "Sample",
           "ShiftCalendar", "Site", "StateCursor", "StateRuleRow", "Tag", "User", "metadata"]
