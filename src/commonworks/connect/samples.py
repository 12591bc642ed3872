"""What a connector produces: one timestamped value of one platform tag."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import StringConstraints

Value = float | int | bool | str

TAG_KEY_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"
MAX_TAG_KEY_LENGTH = 100
TAG_KEY_RE = re.compile(TAG_KEY_PATTERN)
TagKey = Annotated[str, StringConstraints(pattern=TAG_KEY_PATTERN, max_length=MAX_TAG_KEY_LENGTH)]
"""A platform tag key, e.g. ``cnc-01.spindle_speed`` (the platform checks the same rule)."""


@dataclass(slots=True, frozen=True)
class Sample:
    """A value of tag ``tag`` (the platform's tag key) at device time ``ts`` (epoch ms, UTC).

    ``value=None`` is a *stale marker*: from ``ts`` on the tag's last value is no longer
    current (device offline, Sparkplug NDEATH/DDEATH) — it is never stored as zero.
    """

    tag: str
    ts: int
    value: Value | None
