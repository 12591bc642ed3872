"""Every table of the platform, imported in one place for Alembic and the test suite."""

from commonworks.core.auth.models import ApiToken, LoginFailure, User
from commonworks.core.database import Base
from commonworks.core.orgs.models import Organization
from commonworks.telemetry.models import (
    DeadLetter,
    Gateway,
    Line,
    Machine,
    RetentionPolicy,
    Rollup1h,
    Rollup1m,
    Sample,
    Site,
    Tag,
)

metadata = Base.metadata

__all__ = ["ApiToken", "DeadLetter", "Gateway", "Line", "LoginFailure", "Machine", "Organization", "RetentionPolicy",
           "Rollup1h", "Rollup1m", "Sample", "Site", "Tag", "User", "metadata"]
