"""What every page shares: colours, the language switch, and the signed-in frame (header + drawer).

Strings are English message ids translated with the page's ``_``; ids that are only
listed here (navigation labels) are marked with :func:`N_` so Babel extracts them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nicegui import app, ui

from commonworks.core.i18n import LANGUAGES

Translate = Callable[[str], str]

LANG_KEY = "lang"
PRIMARY = "#1d4f91"
HEADER_BG = "#0f2742"
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}
FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<rect width="32" height="32" rx="6" fill="#1d4f91"/>'
    '<path d="M9 16a7 7 0 0 1 12-4.9M23 16a7 7 0 0 1-12 4.9" stroke="#fff" stroke-width="3" fill="none"'
    ' stroke-linecap="round"/></svg>'
)


def N_(message: str) -> str:
    """Mark a message id for extraction; it is translated where it is shown."""
    return message


@dataclass(frozen=True)
class NavItem:
    label: str
    icon: str
    path: str | None = None  # None: a group of pages, or a capability with no page yet
    children: tuple[NavItem, ...] = ()
    badge: str | None = None  # the name of a count shown next to the label (see :class:`Badges`)

    @property
    def coming_soon(self) -> bool:
        return self.path is None and not self.children

    def matches(self, active: str) -> bool:
        """``/machines/7`` is under ``/machines``."""
        if self.path is None:
            return False
        return active == self.path or (self.path != "/" and active.startswith(self.path + "/"))


HOME = NavItem(N_("Home"), "space_dashboard", "/")
CAPABILITIES = (
    NavItem(N_("Connect"), "settings_input_antenna", children=(
        NavItem(N_("Plant and machines"), "account_tree", "/plant"),
        NavItem(N_("Gateways"), "router", "/gateways"),
    )),
    NavItem(N_("Telemetry"), "sensors", children=(
        NavItem(N_("Machine monitoring"), "monitor_heart", "/machines"),
    )),
    NavItem(N_("Operations"), "precision_manufacturing", children=(
        NavItem(N_("Plant overview"), "dashboard", "/operations"),
        NavItem(N_("Downtime Pareto"), "bar_chart", "/operations/pareto"),
        NavItem(N_("Alarms"), "notifications_active", "/alarms", badge="alarms"),
    )),
    NavItem(N_("Network"), "handshake", children=(
        NavItem(N_("Capability profile"), "badge", "/network/profile"),
        NavItem(N_("Spare capacity"), "event_available", "/network/capacity"),
        NavItem(N_("Demands and quotes"), "request_quote", "/network/demands"),
        NavItem(N_("Orders"), "local_shipping", "/network/orders"),
    )),
    NavItem(N_("Pooling"), "shopping_cart"),
    NavItem(N_("Growth"), "trending_up"),
    NavItem(N_("Region"), "map"),
)


def active_path(active: str) -> str | None:
    """The navigation entry a page belongs to: the longest path it is under (``/operations/pareto``
    is the Pareto's, not the overview's)."""
    paths = [i.path for top in (HOME, *CAPABILITIES) for i in (top, *top.children) if i.path and i.matches(active)]
    return max(paths, key=len) if paths else None


class Badges:
    """Counts next to navigation entries and in the header (open alarms), updated in place."""

    def __init__(self) -> None:
        self._elements: dict[str, list[ui.badge]] = {}

    def add(self, name: str, badge: ui.badge) -> None:
        self._elements.setdefault(name, []).append(badge)

    def set(self, name: str, count: int) -> None:
        for badge in self._elements.get(name, []):
            badge.set_text(str(count) if count < 100 else "99+")
            badge.set_visibility(count > 0)


def current_language(default: str) -> str:
    """The language chosen in this browser session, else ``default``."""
    lang = app.storage.user.get(LANG_KEY, default)
    return lang if lang in LANGUAGES else default


def page_setup(title: str, lang: str) -> None:
    """Page title, ``<html lang>``, theme colours and background."""
    ui.page_title(f"{title} · Commonworks")
    ui.add_head_html(f'<script>document.documentElement.lang = "{HTML_LANG[lang]}";</script>')
    ui.colors(primary=PRIMARY)
    ui.query("body").style("background-color: #f3f5f8")


def language_switch(lang: str, *, on_dark: bool = False) -> ui.toggle:
    """中文 | English; the choice is kept in the user storage and the page is rebuilt in it."""

    def switch(event) -> None:  # type: ignore[no-untyped-def]
        if event.value and event.value != lang:
            app.storage.user[LANG_KEY] = event.value
            ui.navigate.reload()

    toggle = ui.toggle(dict(LANGUAGES), value=lang, on_change=switch)
    toggle.props("dense no-caps unelevated rounded size=sm padding='2px 12px'").classes("whitespace-nowrap")
    if on_dark:
        toggle.props("color=transparent text-color=white toggle-color=white toggle-text-color=dark")
        toggle.classes("border border-white/40 rounded-full")
    else:
        toggle.props("color=white text-color=grey-8 toggle-color=primary").classes("border rounded-full")
    toggle.mark("language")
    return toggle


def frame(_: Translate, *, lang: str, org_name: str, user_name: str, active: str,
          on_logout: Callable[[], None], open_alarms: int = 0) -> Badges:
    """The header and the navigation drawer of a signed-in page; returns its badges (open alarms)."""
    badges = Badges()
    with ui.header().classes("items-center gap-3 px-4 py-2 no-wrap").style(f"background-color: {HEADER_BG}"):
        menu = ui.button(icon="menu").props("flat round dense color=white")
        ui.icon("hub", size="28px").classes("text-blue-3")
        with ui.column().classes("gap-0"):
            ui.label("Commonworks").classes("text-lg font-semibold leading-tight tracking-wide")
            ui.label(_("Create value together, share it")).classes("text-xs text-blue-2 leading-tight max-md:hidden")
        ui.space()
        with ui.row().classes("items-center gap-2 no-wrap max-md:hidden"):
            ui.icon("apartment", size="20px").classes("text-blue-2")
            ui.label(org_name).classes("text-sm font-medium").mark("org-name")
            ui.separator().props("vertical dark").classes("mx-2")
            ui.icon("account_circle", size="20px").classes("text-blue-2")
            ui.label(user_name).classes("text-sm")
        with ui.button(icon="notifications", on_click=lambda: ui.navigate.to("/alarms")) \
                .props('flat round dense color=white data-testid="alarm-bell"'):
            ui.tooltip(_("Open alarms"))
            badges.add("alarms", ui.badge().props('floating rounded color=negative data-testid="alarm-count"')
                       .classes("text-[10px]"))
        language_switch(lang, on_dark=True)
        ui.button(_("Log out"), icon="logout", on_click=on_logout).props("flat dense no-caps color=white")

    drawer = ui.left_drawer(bordered=True).props("width=232").classes("bg-white p-0")
    current = active_path(active)
    with drawer, ui.list().props("padding").classes("w-full text-grey-9"):
        _nav_item(_, HOME, current, badges)
        ui.item_label(_("Platform capabilities")).props("header").classes(
            "text-xs text-grey-6 uppercase tracking-wider pt-4")
        for item in CAPABILITIES:
            _nav_item(_, item, current, badges)
    menu.on_click(drawer.toggle)
    badges.set("alarms", open_alarms)
    return badges


def _nav_item(_: Translate, item: NavItem, active: str | None, badges: Badges) -> None:
    if item.path is None:
        row = ui.item().classes("cursor-default " + ("text-grey-9" if item.children else "text-grey-7"))
    else:
        row = ui.item().props(f'clickable tag=a href="{item.path}" active-class="bg-blue-1 text-primary"')
        if item.path == active:
            row.props("active")
    with row.classes("rounded-r-full mr-2"):
        with ui.item_section().props("avatar").classes("min-w-0 pr-3"):
            ui.icon(item.icon, size="20px")
        with ui.item_section():
            ui.item_label(_(item.label)).classes("text-[15px]")
        if item.coming_soon:
            with ui.item_section().props("side"):
                ui.badge(_("Coming soon")).props("outline color=grey-6").classes("text-[11px]")
    for child in item.children:
        _sub_item(_, child, active, badges)


def _sub_item(_: Translate, item: NavItem, active: str | None, badges: Badges) -> None:
    row = ui.item().props(f'clickable dense tag=a href="{item.path}" active-class="bg-blue-1 text-primary"')
    if item.path == active:
        row.props("active")
    with row.classes("rounded-r-full mr-2 pl-12 min-h-[36px] text-grey-8"):
        with ui.item_section().props("avatar").classes("min-w-0 pr-2"):
            ui.icon(item.icon, size="18px")
        with ui.item_section():
            ui.item_label(_(item.label)).classes("text-sm")
        if item.badge:
            with ui.item_section().props("side"):
                badges.add(item.badge, ui.badge().props(f'rounded color=negative data-testid="nav-badge-{item.badge}"')
                           .classes("text-[11px]"))
