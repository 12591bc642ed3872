"""People and access: users with roles, passwords, JWT sessions, API tokens, tenant scoping."""
