"""The web pages (NiceGUI on the API's FastAPI app): login and the enterprise home; the plant,
machine, gateway and operations (overview, Pareto, alarms) pages live in their own modules and
are registered by importing them here.

NiceGUI's pages and storage are process-global, so the UI is mounted on one app per
process; the pages reach that app's settings and database through ``common.ctx()``.
The signed-in user's id and the chosen language live in ``app.storage.user`` (a file
per browser session under ``<data_dir>/nicegui``, keyed by a cookie signed with the
platform secret).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from nicegui import app, core, run, storage, ui
from sqlalchemy import func, select
from starlette.routing import Match, Mount
from starlette.types import Scope

from commonworks.app import API_PREFIX
from commonworks.core.auth.models import Role, User
from commonworks.core.auth.service import authenticate
from commonworks.core.orgs.models import OrgKind, SizeClass
from commonworks.core.orgs.schemas import OrgOut
from commonworks.core.orgs.service import to_out
from commonworks.core.settings import Settings
from commonworks.web import (  # noqa: F401 (all but common and layout register pages)
    alarms,
    common,
    gateways,
    layout,
    machines,
    network_capacity,
    network_demands,
    network_orders,
    network_profile,
    overview,
    pareto,
    plant,
)
from commonworks.web.layout import N_, Translate

USER_KEY = common.USER_KEY

ROLE_LABELS = {
    Role.owner: N_("Owner"),
    Role.admin: N_("Administrator"),
    Role.engineer: N_("Engineer"),
    Role.viewer: N_("Viewer"),
}
KIND_LABELS = {
    OrgKind.manufacturer: N_("Manufacturer"),
    OrgKind.service_provider: N_("Service provider"),
    OrgKind.platform_operator: N_("Platform operator"),
    OrgKind.government: N_("Government or industrial park"),
}
SIZE_LABELS = {
    SizeClass.large: N_("Large enterprise"),
    SizeClass.medium: N_("Medium-sized enterprise"),
    SizeClass.small: N_("Small enterprise"),
    SizeClass.micro: N_("Micro enterprise"),
}


def mount(app_: FastAPI, settings: Settings) -> None:
    """Serve the pages from ``app_`` (once per process)."""
    common.set_context(common.Context(settings=settings, db=app_.state.db))
    # NiceGUI reads NICEGUI_STORAGE_PATH when it is imported; set the class attribute instead,
    # which every user storage file is created under.
    storage.Storage.path = (settings.data_dir / "nicegui").resolve()
    storage.Storage.path.mkdir(parents=True, exist_ok=True)
    ui.run_with(app_, storage_secret=settings.jwt_key(), title="Commonworks", favicon=layout.FAVICON,
                show_welcome_message=False)
    _keep_api_paths_out_of_the_ui(app_)


class _UIMount(Mount):
    """NiceGUI's catch-all mount at ``/``, minus the API: an unknown API path or method gets
    the API's own JSON 404/405 instead of NiceGUI's HTML error page."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path = scope.get("path", "")
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            return Match.NONE, {}
        return super().matches(scope)


def _keep_api_paths_out_of_the_ui(app_: FastAPI) -> None:
    routes = app_.router.routes
    for i, route in enumerate(routes):
        if isinstance(route, Mount) and route.app is core.app:
            routes[i] = _UIMount(route.path or "/", app=core.app)


# ---------------------------------------------------------------- login


@dataclass(frozen=True)
class _LoginOutcome:
    user_id: int | None
    retry_after: int | None
    language: str | None


def _check_login(email: str, password: str, client: str) -> _LoginOutcome:
    """Runs in a worker thread (password hashing is slow); failures are committed too."""
    ctx = common.ctx()
    with ctx.db.transaction() as session:
        result = authenticate(session=session, email=email, password=password, client=client,
                              max_failures=ctx.settings.login_max_failures,
                              window_seconds=ctx.settings.login_window_seconds)
        if result.user is None:
            return _LoginOutcome(None, result.retry_after, None)
        return _LoginOutcome(result.user.id, None, result.user.language)


@ui.page("/login")
def login_page(request: Request) -> RedirectResponse | None:
    if app.storage.user.get(USER_KEY) is not None:
        return RedirectResponse("/")
    lang, _ = common.language()
    layout.page_setup(_("Log in"), lang)
    client = request.client.host if request.client else "unknown"

    async def submit() -> None:
        error.set_visibility(False)
        if not email.value.strip() or not password.value:
            error.set_text(_("Enter your e-mail address and password."))
            error.set_visibility(True)
            return
        button.props("loading")
        outcome = await run.io_bound(_check_login, email.value, password.value, client)
        button.props(remove="loading")
        if outcome.user_id is None:
            password.set_value("")
            if outcome.retry_after:
                message = _("Too many failed attempts. Try again in {seconds} seconds.")
                error.set_text(message.format(seconds=outcome.retry_after))
            else:
                error.set_text(_("The e-mail address or password is incorrect."))
            error.set_visibility(True)
            return
        if layout.LANG_KEY not in app.storage.user and outcome.language:
            app.storage.user[layout.LANG_KEY] = outcome.language
        app.storage.user[USER_KEY] = outcome.user_id
        ui.navigate.to("/")

    with ui.row().classes("absolute top-4 right-6"):
        layout.language_switch(lang)
    with ui.column().classes("absolute-center items-center gap-6 w-full max-w-sm px-4"):
        with ui.row().classes("items-center gap-3 no-wrap"):
            ui.icon("hub", size="40px", color="primary")
            with ui.column().classes("gap-0"):
                ui.label("Commonworks").classes("text-2xl font-semibold text-grey-9")
                ui.label(_("Create value together, share it")).classes("text-sm text-grey-7")
        with ui.card().props("flat bordered").classes("w-full p-6 gap-4"):
            ui.label(_("Sign in to your organization's workspace")).classes("text-base font-medium")
            email = ui.input(_("E-mail address")).props('outlined dense type=email autocomplete=username')
            email.classes("w-full").mark("email")
            password = ui.input(_("Password"), password=True, password_toggle_button=True)
            password.props("outlined dense autocomplete=current-password").classes("w-full").mark("password")
            error = ui.label().classes("text-negative text-sm").mark("login-error")
            error.set_visibility(False)
            button = ui.button(_("Log in"), on_click=submit).props("unelevated no-caps").classes("w-full")
            email.on("keydown.enter", submit)
            password.on("keydown.enter", submit)
    return None


# ---------------------------------------------------------------- home


@dataclass(frozen=True)
class _Home:
    user_name: str
    org: OrgOut
    role_counts: dict[Role, int]


def _load_home(user_id: int) -> _Home | None:
    with common.ctx().db.transaction() as session:
        user = session.get(User, user_id)
        if user is None or not user.is_active or not user.org.is_active:
            return None
        rows = session.execute(select(User.role, func.count()).where(
            User.org_id == user.org_id, User.is_active.is_(True)).group_by(User.role)).all()
        return _Home(user_name=user.display_name, org=to_out(user.org), role_counts=dict(rows))  # type: ignore[arg-type]


@ui.page("/")
def home_page() -> RedirectResponse | None:
    user_id = app.storage.user.get(USER_KEY)
    home = _load_home(user_id) if isinstance(user_id, int) else None
    if home is None:
        app.storage.user.pop(USER_KEY, None)
        return RedirectResponse("/login")
    lang, _ = common.language()
    org = home.org
    org_name = org.name_zh if lang == "zh_CN" else (org.name_en or org.name_zh)
    layout.page_setup(_("Home"), lang)
    layout.frame(_, lang=lang, org_name=org_name, user_name=home.user_name, active="/", on_logout=common.logout)

    with ui.column().classes("w-full max-w-6xl mx-auto p-6 gap-6"):
        with ui.column().classes("gap-1"):
            ui.label(org_name).classes("text-2xl font-semibold text-grey-9")
            ui.label(_("Welcome, {name}").format(name=home.user_name)).classes("text-grey-7")
        with ui.row().classes("w-full gap-6 items-stretch max-md:flex-col"):
            _profile_card(_, lang, org)
            _members_card(_, home.role_counts)
    return None


def _card_title(icon: str, text: str) -> None:
    with ui.row().classes("items-center gap-2"):
        ui.icon(icon, size="22px", color="primary")
        ui.label(text).classes("text-base font-semibold text-grey-9")


def _profile_card(_: Translate, lang: str, org: OrgOut) -> None:
    industry = org.industry_name_zh if lang == "zh_CN" else org.industry_name_en
    fields = [
        (_("Unified social credit code"), org.credit_code),
        (_("Location"), f"{org.region_name} · {org.region_code}"),
        (_("Industry"), f"{org.industry_code} {industry}"),
        (_("Organization type"), _(KIND_LABELS[org.kind])),
        (_("Enterprise size"), _(SIZE_LABELS[org.size_class])),
    ]
    with ui.card().props("flat bordered").classes("flex-1 min-w-[320px] p-5 gap-4").mark("profile"):
        _card_title("badge", _("Organization profile"))
        with ui.grid(columns="auto 1fr").classes("gap-x-6 gap-y-3 text-sm"):
            for label, value in fields:
                ui.label(label).classes("text-grey-7")
                ui.label(value).classes("text-grey-10 font-medium break-words")


def _members_card(_: Translate, counts: dict[Role, int]) -> None:
    roles = list(Role)
    with ui.card().props("flat bordered").classes("flex-1 min-w-[320px] p-5 gap-2").mark("members"):
        with ui.row().classes("w-full items-center justify-between"):
            _card_title("groups", _("Members by role"))
            total = sum(counts.values())
            ui.label(_("Active users: {count}").format(count=total)).classes("text-sm text-grey-7")
        ui.echart({
            "animation": False,
            "grid": {"left": 8, "right": 16, "top": 32, "bottom": 8, "containLabel": True},
            "tooltip": {"trigger": "axis"},
            "xAxis": {"type": "category", "data": [_(ROLE_LABELS[role]) for role in roles],
                      "axisTick": {"show": False}},
            "yAxis": {"type": "value", "minInterval": 1, "name": _("Users")},
            "series": [{
                "type": "bar", "name": _("Users"), "barMaxWidth": 44,
                "data": [counts.get(role, 0) for role in roles],
                "itemStyle": {"color": layout.PRIMARY, "borderRadius": [4, 4, 0, 0]},
                "label": {"show": True, "position": "top"},
            }],
        }).classes("w-full h-64").mark("members-chart")
