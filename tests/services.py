"""Real services the tests need: present in CI, optional on a developer's machine.

With ``CI=true`` a missing service fails the test instead of skipping it.
"""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def require(value: str | None, what: str) -> str:
    if value:
        return value
    message = f"{what} is not available"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: a missing service is a failure)")
    pytest.skip(message)


def postgres_url() -> str:
    return require(os.environ.get("COMMONWORKS_TEST_DATABASE_URL"),
                   "PostgreSQL (set COMMONWORKS_TEST_DATABASE_URL)")
