"""What a connector produces: one timestamped value of one platform tag."""

from __future__ import annotations

from dataclasses import dataclass

Value = float | int | bool | str


@dataclass(slots=True, frozen=True)
class Sample:
    """A value of tag ``tag`` (the platform's tag key) at device time ``ts`` (epoch ms, UTC).

    ``value=None`` is a *stale marker*: from ``ts`` on the tag's last value is no longer
    current (device offline, Sparkplug NDEATH/DDEATH) — it is never stored as zero.
    """

    tag: str
    ts: int
    value: Value | None
