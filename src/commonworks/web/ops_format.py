"""How the operations pages name and colour things (pure: no database, no UI).

The six machine states of the ISO 22400 time model and the three alarm severities each get
a label (a message id), a colour used alike by tiles, badges and charts, and an icon; time
ranges are resolved in the site's time zone ("today" starts at the local midnight);
durations read as people say them ("2 h 05 min").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from commonworks.web.layout import N_, Translate


@dataclass(frozen=True)
class Look:
    label: str  # message id
    color: str  # CSS colour, shared by the tiles and the charts
    icon: str


STATE_LOOKS: dict[str, Look] = {
    "producing": Look(N_("Producing"), "#2e7d32", "play_circle"),
    "idle": Look(N_("Idle"), "#f9a825", "pause_circle"),
    "setup": Look(N_("Setup"), "#1e88e5", "build_circle"),
    "down_unplanned": Look(N_("Unplanned down"), "#d32f2f", "error"),
    "down_planned": Look(N_("Planned down"), "#607d8b", "event_busy"),
    "offline": Look(N_("Offline"), "#9e9e9e", "cloud_off"),
}
NO_STATE = Look(N_("No state data"), "#cfd8dc", "hourglass_empty")
STOP_STATES = ("idle", "setup", "down_unplanned", "down_planned", "offline")

SEVERITY_LOOKS: dict[str, Look] = {
    "critical": Look(N_("Critical"), "#d32f2f", "report"),
    "warning": Look(N_("Warning"), "#ef6c00", "warning"),
    "info": Look(N_("Information"), "#1e88e5", "info"),
}
SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
ALARM_STATUSES = {"active": N_("Unacknowledged"), "acknowledged": N_("Acknowledged"), "cleared": N_("Cleared")}


def state_look(state: str | None) -> Look:
    return STATE_LOOKS.get(state or "", NO_STATE)


def text_on(color: str) -> str:
    """Black or white, whichever reads better on ``color`` (#rrggbb)."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return "#212121" if 0.299 * r + 0.587 * g + 0.114 * b > 160 else "#ffffff"


# ---------------------------------------------------------------- numbers and durations


def percent(value: float | None, digits: int = 1) -> str:
    """0.7111 → "71.1%"; None (no planned time, no ideal cycle …) → "—"."""
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def oee_color(value: float | None) -> str:
    """A Quasar text colour: world-class 85 % and over green, under 60 % red, amber between; grey for none."""
    if value is None:
        return "text-grey-6"
    return "text-positive" if value >= 0.85 else "text-amber-9" if value >= 0.6 else "text-negative"


def duration(_: Translate, seconds: float | None) -> str:
    """45 → "45 s", 3900 → "1 h 05 min", 200000 → "2 d 7 h"; None → "—"."""
    if seconds is None:
        return "—"
    total = round(abs(seconds))
    sign = "−" if seconds < 0 and total else ""
    if total < 60:
        return sign + _("{seconds} s").format(seconds=total)
    minutes = round(total / 60)
    if minutes < 60:
        return sign + _("{minutes} min").format(minutes=minutes)
    if minutes < 24 * 60:
        return sign + _("{hours} h {minutes} min").format(hours=minutes // 60, minutes=f"{minutes % 60:02d}")
    hours = round(total / 3600)
    return sign + _("{days} d {hours} h").format(days=hours // 24, hours=hours % 24)


# ---------------------------------------------------------------- time ranges


RANGE_HOURS = {"1h": 1, "8h": 8, "24h": 24, "7d": 7 * 24, "30d": 30 * 24}
CALENDAR_RANGES = {"today": N_("Today"), "yesterday": N_("Yesterday")}


def local_midnight(now_ms: int, tz: str, days_back: int = 0) -> int:
    """Epoch ms of the local midnight that starts the day of ``now_ms`` (``days_back`` days earlier)."""
    zone = ZoneInfo(tz)
    day = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(zone).date() - timedelta(days=days_back)
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp() * 1000)


def window(key: str, now_ms: int, tz: str) -> tuple[int, int]:
    """[start, end) of a range key: ``today``, ``yesterday`` (local days in ``tz``) or ``1h`` … ``30d`` up to now."""
    if key == "today":
        start = local_midnight(now_ms, tz)
        return start, max(now_ms, start + 1)
    if key == "yesterday":
        return local_midnight(now_ms, tz, 1), local_midnight(now_ms, tz)
    return now_ms - RANGE_HOURS[key] * 3_600_000, now_ms


def range_label(_: Translate, key: str) -> str:
    if key in CALENDAR_RANGES:
        return _(CALENDAR_RANGES[key])
    count = int(key[:-1])
    return _("{count} h").format(count=count) if key.endswith("h") else _("{count} d").format(count=count)
