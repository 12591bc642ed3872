"""What the signed-in pages share: the app context, who is signed in, the page shell, and how
service errors and schema validation errors become translated messages next to a field.

Every read and write of a page goes through :func:`tenant_session`, which builds the same
:class:`~commonworks.core.auth.deps.Principal` the API builds from a token (``via="ui"``), so
tenant scoping and role checks are the API's own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from nicegui import app, run, ui
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from commonworks.core.auth.deps import Principal
from commonworks.core.auth.models import MANAGERS, Role, User
from commonworks.core.crud import EDITORS
from commonworks.core.database import Database
from commonworks.core.errors import AppError, Conflict, Forbidden, Invalid, NotFound
from commonworks.core.i18n import gettext_for
from commonworks.core.settings import Settings
from commonworks.web import layout
from commonworks.web.layout import N_, Translate

USER_KEY = "user_id"
BADGES_KEY = "badges"
BADGE_REFRESH_S = 20.0


@dataclass(frozen=True)
class Context:
    settings: Settings
    db: Database


_context: Context | None = None


def set_context(context: Context) -> None:
    global _context
    if _context is not None:
        raise RuntimeError("the web UI is process-global and already mounted; "
                           "build further apps with create_app(..., ui=False)")
    _context = context


def ctx() -> Context:
    if _context is None:
        raise RuntimeError("commonworks.web.pages.mount() has not been called")
    return _context


def language() -> tuple[str, Translate]:
    lang = layout.current_language(ctx().settings.default_language)
    return lang, gettext_for(lang)


# ---------------------------------------------------------------- who is signed in


class SignedOut(Exception):
    """The session's user is gone or deactivated."""


@dataclass(frozen=True)
class Viewer:
    """The signed-in user, as a page needs it (plain data, no ORM object)."""

    user_id: int
    org_id: int
    role: Role
    user_name: str
    org_name_zh: str
    org_name_en: str | None

    @property
    def is_manager(self) -> bool:
        return self.role in MANAGERS

    @property
    def is_editor(self) -> bool:
        return self.role in EDITORS

    def org_name(self, lang: str) -> str:
        return self.org_name_zh if lang == "zh_CN" else (self.org_name_en or self.org_name_zh)


def _active_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or not user.is_active or not user.org.is_active:
        raise SignedOut()
    return user


@contextmanager
def tenant_session(user_id: int) -> Iterator[tuple[Session, Principal]]:
    """A transaction and the signed-in user as a Principal; committed on success, rolled back on error."""
    with ctx().db.transaction() as session:
        yield session, Principal(user=_active_user(session, user_id), via="ui")


def current_viewer() -> Viewer | None:
    """The signed-in user of this browser session, or None (and the stale session is forgotten)."""
    user_id = app.storage.user.get(USER_KEY)
    if isinstance(user_id, int):
        try:
            with ctx().db.transaction() as session:
                user = _active_user(session, user_id)
                return Viewer(user_id=user.id, org_id=user.org_id, role=user.role, user_name=user.display_name,
                              org_name_zh=user.org.name_zh, org_name_en=user.org.name_en)
        except SignedOut:
            pass
    app.storage.user.pop(USER_KEY, None)
    return None


def logout() -> None:
    app.storage.user.pop(USER_KEY, None)
    ui.navigate.to("/login")


def shell(title: str, active: str) -> tuple[Viewer, str, Translate] | None:
    """Title, theme, header and drawer of a signed-in page; None when nobody is signed in.

    ``title`` is a message id (translated here).
    """
    viewer = current_viewer()
    if viewer is None:
        return None
    from commonworks.web.ops_data import open_alarm_count  # the data layer imports this module

    lang, _ = language()
    layout.page_setup(_(title), lang)
    badges = layout.frame(_, lang=lang, org_name=viewer.org_name(lang), user_name=viewer.user_name, active=active,
                          on_logout=logout, open_alarms=open_alarm_count(viewer.user_id))
    app.storage.client[BADGES_KEY] = badges

    async def refresh_badges() -> None:
        try:
            count = await run.io_bound(open_alarm_count, viewer.user_id)
        except SignedOut:
            return  # the page's own refresh sends the user to the login
        if count is not None:
            badges.set("alarms", count)

    ui.timer(BADGE_REFRESH_S, refresh_badges)
    return viewer, lang, _


def set_alarm_badges(count: int) -> None:
    """Show a new open-alarm count in this page's header and navigation at once (e.g. after acknowledging)."""
    badges = app.storage.client.get(BADGES_KEY)
    if isinstance(badges, layout.Badges):
        badges.set("alarms", count)


# ---------------------------------------------------------------- building blocks


def page_header(title: str, subtitle: str | None = None) -> ui.row:
    """The title row of a page; actions go into the returned row's right side."""
    row = ui.row().classes("w-full items-end justify-between gap-4 no-wrap max-sm:flex-wrap")
    with row, ui.column().classes("gap-1 min-w-0"):
        ui.label(title).classes("text-2xl font-semibold text-grey-9")
        if subtitle:
            ui.label(subtitle).classes("text-sm text-grey-7")
    return row


def card_title(icon: str, text: str) -> None:
    with ui.row().classes("items-center gap-2 no-wrap"):
        ui.icon(icon, size="22px", color="primary")
        ui.label(text).classes("text-base font-semibold text-grey-9")


def empty_state(icon: str, title: str, hint: str) -> None:
    with ui.column().classes("w-full items-center gap-2 py-10 text-center"):
        ui.icon(icon, size="48px").classes("text-grey-5")
        ui.label(title).classes("text-base font-medium text-grey-8")
        ui.label(hint).classes("text-sm text-grey-6 max-w-md")


def not_found(_: Translate, message: str, back_to: str, back_label: str) -> None:
    with ui.card().props("flat bordered").classes("w-full max-w-xl mx-auto mt-10 p-8 items-center gap-3") \
            .props('data-testid="not-found"'):
        ui.icon("search_off", size="48px").classes("text-grey-5")
        ui.label(_("Not found")).classes("text-xl font-semibold text-grey-9")
        ui.label(message).classes("text-sm text-grey-7 text-center")
        ui.button(back_label, icon="arrow_back", on_click=lambda: ui.navigate.to(back_to)) \
            .props("flat no-caps color=primary")


def confirm(_: Translate, title: str, message: str, action: str, on_confirm: Any, *, icon: str = "warning",
            color: str = "negative", testid: str | None = None) -> None:
    """A confirmation dialog; ``on_confirm`` runs when the user agrees and returns an error message to keep
    the dialog open with it. Red with a warning by default (destructive); a step forward passes
    ``color="positive"`` and its icon. ``testid`` marks the dialog (``testid``) and its button (``agree``)."""
    with ui.dialog() as dialog, ui.card().classes("w-[480px] max-w-full p-6 gap-4") as card:
        if testid:
            card.props(f'data-testid="{testid}"')
        with ui.row().classes("items-center gap-3 no-wrap"):
            ui.icon(icon, size="28px", color=color)
            ui.label(title).classes("text-lg font-semibold text-grey-9")
        ui.label(message).classes("text-sm text-grey-8")
        error = ui.label().classes("text-sm text-negative")
        error.set_visibility(False)

        def agree() -> None:
            outcome = on_confirm()
            if isinstance(outcome, str):
                error.set_text(outcome)
                error.set_visibility(True)
                return
            dialog.close()

        with ui.row().classes("w-full justify-end gap-2"):
            ui.button(_("Cancel"), on_click=dialog.close).props("flat no-caps color=grey-8")
            button = ui.button(action, on_click=agree).props(f"unelevated no-caps color={color}")
            if testid:
                button.props('data-testid="agree"')
    dialog.on("hide", dialog.delete)
    dialog.open()


def paginate_in(_: Translate, table: ui.table) -> ui.table:
    """Quasar's pagination words ("Records per page", "1-10 of 30") in the page's language."""
    table.props["rows-per-page-label"] = _("Rows per page")
    table.props[":pagination-label"] = "(first, end, total) => `${first}–${end} / ${total}`"
    return table


# ---------------------------------------------------------------- messages for errors


KEY_HINT = N_("Use lower-case letters, digits, '.', '_' or '-', starting with a letter or digit.")
FIELD_VALUE_ERRORS = {
    "timezone": N_("Unknown time zone; use an IANA name such as Asia/Shanghai."),
    "unit": N_("Not a UCUM unit code (e.g. mm/min, Cel, kW.h, bar, %); use 1 for dimensionless."),
    "ideal_cycle_times": N_("Part families need a name (at most 64 characters) and a time of more than 0 and "
                            "at most 86400 s."),
}


def validation_messages(_: Translate, exc: ValidationError) -> dict[str, str]:
    """The first problem of each field of a schema validation error, as a translated sentence."""
    messages: dict[str, str] = {}
    for error in exc.errors():
        loc = error.get("loc") or ("",)
        field = str(loc[0])
        if field in messages:
            continue
        messages[field] = _validation_message(_, field, error)
    return messages


def _validation_message(_: Translate, field: str, error: Any) -> str:
    kind = error.get("type", "")
    limits = error.get("ctx") or {}
    if kind == "missing" or (kind == "string_too_short" and limits.get("min_length") == 1):
        return _("Required.")
    if kind == "string_too_short":
        return _("Enter at least {count} characters.").format(count=limits.get("min_length"))
    if kind == "string_too_long":
        return _("Enter at most {count} characters.").format(count=limits.get("max_length"))
    if kind == "string_pattern_mismatch":
        return _(KEY_HINT)
    if kind in ("greater_than_equal", "greater_than"):
        return _("Must be at least {limit}.").format(limit=limits.get("ge", limits.get("gt")))
    if kind in ("less_than_equal", "less_than"):
        return _("Must be at most {limit}.").format(limit=limits.get("le", limits.get("lt")))
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return _("Enter a whole number.")
    if kind in ("float_parsing", "float_type", "finite_number"):
        return _("Enter a number.")
    if kind in ("enum", "literal_error"):
        return _("Choose one of the options.")
    if field in FIELD_VALUE_ERRORS:
        return _(FIELD_VALUE_ERRORS[field])
    return str(error.get("msg", ""))


def service_message(_: Translate, exc: AppError, *, conflict: str | None = None) -> tuple[str | None, str]:
    """(field, translated message) for an error the service or CRUD logic raised.

    ``conflict`` is the message for a 409 that names no field (e.g. "the site still has lines").
    """
    if isinstance(exc, Conflict):
        if exc.field == "name":
            return "name", _("This name is already used here.")
        if exc.field == "key":
            return "key", _("This key is already used.")
        return None, conflict or _("This clashes with an existing entry.")
    if isinstance(exc, Forbidden):
        return None, _("Your role may not change this.")
    if isinstance(exc, NotFound):
        return None, _("It no longer exists; it may have been deleted meanwhile.")
    if isinstance(exc, Invalid) and exc.field:
        return exc.field, _("Not found in your organization.")
    return None, _("The change could not be saved.")


def show_errors(fields: dict[str, Any], errors: dict[str, str], general: ui.label | None = None) -> None:
    """Put each message under its field; messages without a field go to ``general``."""
    for name, element in fields.items():
        element.error = errors.get(name)
    rest = [message for name, message in errors.items() if name not in fields]
    if general is not None:
        general.set_text(" ".join(rest))
        general.set_visibility(bool(rest))


# ---------------------------------------------------------------- formatting


def local_time(ts_ms: int | None, tz: str, *, with_date: bool = True) -> str:
    if ts_ms is None:
        return "—"
    moment = datetime.fromtimestamp(ts_ms / 1000, UTC).astimezone(ZoneInfo(tz))
    return moment.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")


def local_datetime(moment: datetime | None, tz: str) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")


def age(_: Translate, ts_ms: int | None, now_ms: int, tz: str) -> str:
    """"12 s ago", "5 min ago", "3 h ago", else the local date and time."""
    if ts_ms is None:
        return _("never")
    seconds = max(0, (now_ms - ts_ms) // 1000)
    if seconds < 60:
        return _("{count} s ago").format(count=seconds)
    if seconds < 3600:
        return _("{count} min ago").format(count=seconds // 60)
    if seconds < 86_400:
        return _("{count} h ago").format(count=seconds // 3600)
    return local_time(ts_ms, tz)


def number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    size = abs(value)
    digits = 1 if size >= 1000 else 2 if size >= 10 else 3 if size >= 0.01 else 6
    return f"{value:,.{digits}f}".rstrip("0").rstrip(".")


UNIT_SYMBOLS = {"Cel": "°C", "[degF]": "°F", "1": "", "/min": "1/min", "[rpm]": "rpm", "[psi]": "psi",
                "kW.h": "kWh", "W.h": "Wh", "N.m": "N·m", "deg": "°", "Ohm": "Ω", "um": "µm"}


def unit_symbol(unit: str) -> str:
    """A UCUM code as people write it next to a value (annotations such as {count} are dropped)."""
    if unit in UNIT_SYMBOLS:
        return UNIT_SYMBOLS[unit]
    if unit.startswith("{") and unit.endswith("}"):
        return ""
    return unit


def value_text(_: Translate, value: float | str | None, data_type: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if data_type == "bool":
        return _("On") if value else _("Off")
    return number(value)


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def save_form(_: Translate, fields: dict[str, Any], general: ui.label | None, schema: type[BaseModel],
              values: dict[str, Any], save: Callable[[Any], Any], *, conflict: str | None = None) -> Any:
    """Validate ``values`` with the API's schema, then ``save`` the model; errors go next to their fields.

    Returns what ``save`` returned, or None when something was wrong (the messages are shown).
    """
    try:
        model = schema.model_validate(values)
    except ValidationError as exc:
        show_errors(fields, validation_messages(_, exc), general)
        return None
    try:
        result = save(model)
    except AppError as exc:
        field, message = service_message(_, exc, conflict=conflict)
        show_errors(fields, {field or "": message}, general)
        return None
    show_errors(fields, {}, general)
    return result if result is not None else True


def text_or_none(value: Any) -> str | None:
    text = (value or "").strip() if isinstance(value, str) else value
    return text or None


MACHINE_TYPES = {
    "cnc_mill": N_("CNC milling machine"),
    "cnc_lathe": N_("CNC lathe"),
    "machining_centre": N_("Machining centre"),
    "injection_moulding": N_("Injection moulding machine"),
    "press": N_("Press"),
    "press_brake": N_("Press brake"),
    "laser_cutter": N_("Laser cutter"),
    "welding_robot": N_("Welding robot"),
    "other": N_("Other"),
}
MACHINE_ICONS = {
    "cnc_mill": "precision_manufacturing", "cnc_lathe": "settings", "machining_centre": "precision_manufacturing",
    "injection_moulding": "blender", "press": "compress", "press_brake": "vertical_align_bottom",
    "laser_cutter": "flash_on", "welding_robot": "smart_toy", "other": "build",
}
