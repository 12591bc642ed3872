"""Every table of the platform, imported in one place for Alembic and the test suite."""

from commonworks.core.auth.models import ApiToken, LoginFailure, User
from commonworks.core.database import Base
from commonworks.core.orgs.models import Organization

metadata = Base.metadata

__all__ = ["ApiToken", "LoginFailure", "Organization", "User", "metadata"]
