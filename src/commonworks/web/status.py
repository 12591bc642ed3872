"""A machine's live status from the newest values of its tags (pure; no database, no UI).

A tag named ``machinery_item_state`` (OPC 40001-1 MachineryItemState: 0 NotAvailable,
1 OutOfService, 2 NotExecuting, 3 Executing, or those names) or ``state`` (running / idle /
down …) gives the state directly, since gateways report states on change an old value
still holds unless the device went offline (stale). Without such a tag the status says
whether data arrives: receiving, quiet for a while, offline (stale), or none at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from commonworks.telemetry.schemas import LatestValue
from commonworks.web.layout import N_

STATE_TAGS = ("machinery_item_state", "state", "machinery_item_state_name", "machine_state")
QUIET_AFTER_MS = 5 * 60_000


@dataclass(frozen=True)
class Status:
    kind: str
    label: str  # message id
    color: str  # Quasar colour
    icon: str
    raw: str | None = None  # an unrecognised state value, shown as it is


STATUSES = {
    "executing": Status("executing", N_("Running"), "positive", "play_circle"),
    "not_executing": Status("not_executing", N_("Idle"), "amber-8", "pause_circle"),
    "out_of_service": Status("out_of_service", N_("Down"), "negative", "error"),
    "not_available": Status("not_available", N_("Not available"), "grey-7", "power_settings_new"),
    "receiving": Status("receiving", N_("Receiving data"), "teal", "sensors"),
    "quiet": Status("quiet", N_("No recent data"), "amber-8", "schedule"),
    "stale": Status("stale", N_("Offline (stale)"), "blue-grey-6", "cloud_off"),
    "no_data": Status("no_data", N_("No data"), "grey-6", "hourglass_empty"),
    "no_tags": Status("no_tags", N_("No tags"), "grey-6", "label_off"),
    "unknown_state": Status("unknown_state", N_("State"), "indigo", "help"),
}

_STATE_WORDS = {
    "executing": "executing", "running": "executing", "producing": "executing", "run": "executing",
    "notexecuting": "not_executing", "idle": "not_executing", "setup": "not_executing", "ready": "not_executing",
    "waiting": "not_executing", "stopped": "not_executing",
    "outofservice": "out_of_service", "down": "out_of_service", "fault": "out_of_service", "error": "out_of_service",
    "alarm": "out_of_service", "maintenance": "out_of_service",
    "notavailable": "not_available", "off": "not_available", "offline": "not_available",
}
_STATE_CODES = {0: "not_available", 1: "out_of_service", 2: "not_executing", 3: "executing"}


def tag_name(key: str) -> str:
    """The last part of a tag key: ``cnc-01.machinery_item_state`` → ``machinery_item_state``."""
    return key.replace("/", ".").rsplit(".", 1)[-1]


def state_tag(latest: Sequence[LatestValue]) -> LatestValue | None:
    by_name = {tag_name(v.key): v for v in latest}
    for name in STATE_TAGS:
        if name in by_name:
            return by_name[name]
    return None


def state_of(value: float | str) -> Status:
    if isinstance(value, str):
        word = value.strip().lower().replace("_", "").replace("-", "").replace(" ", "")
        if word in _STATE_WORDS:
            return STATUSES[_STATE_WORDS[word]]
        if word.lstrip("-").isdigit():
            value = float(word)
        else:
            return replace(STATUSES["unknown_state"], raw=value.strip())
    code = int(value) if float(value).is_integer() else -1
    if code in _STATE_CODES:
        return STATUSES[_STATE_CODES[code]]
    return replace(STATUSES["unknown_state"], raw=str(value))


def machine_status(latest: Sequence[LatestValue], now_ms: int) -> Status:
    if not latest:
        return STATUSES["no_tags"]
    state = state_tag(latest)
    if state is not None and state.ts is not None:
        if state.stale:
            return STATUSES["stale"]
        if state.value is not None:
            return state_of(state.value)
    with_data = [v for v in latest if v.ts is not None]
    if not with_data:
        return STATUSES["no_data"]
    live = [v for v in with_data if not v.stale]
    if not live:
        return STATUSES["stale"]
    newest = max(v.ts for v in live if v.ts is not None)
    return STATUSES["receiving"] if now_ms - newest <= QUIET_AFTER_MS else STATUSES["quiet"]


def newest_values(latest: Sequence[LatestValue], count: int = 4) -> list[LatestValue]:
    """The most recently updated tags (the state tag excluded), newest first."""
    state = state_tag(latest)
    shown = [v for v in latest if v.ts is not None and v is not state]
    shown.sort(key=lambda v: (-(v.ts or 0), v.key))
    return shown[:count]


def last_update(latest: Sequence[LatestValue]) -> int | None:
    stamps = [v.ts for v in latest if v.ts is not None]
    return max(stamps) if stamps else None
