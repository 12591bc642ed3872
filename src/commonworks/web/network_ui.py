"""Building blocks the network pages share: a status badge, a confirmation with a positive action,
and the row id of a detail page's path."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from commonworks.web.layout import Translate
from commonworks.web.network_format import Look

INPUT = "outlined dense stack-label"
MAX_ROW_ID = 2**31 - 1


def row_id(text: str) -> int | None:
    """The id in a page's path (``/network/orders/12``), or None when it cannot be a row id."""
    return int(text) if text.isdigit() and 1 <= int(text) <= MAX_ROW_ID else None


def status_badge(_: Translate, looks: dict[str, Look], status: str, testid: str | None = None) -> ui.badge:
    look = looks[status]
    badge = ui.badge(_(look.label)).props(f"rounded color={look.color}").classes("px-2 py-1 text-xs")
    if testid:
        badge.props(f'data-testid="{testid}"')
    return badge


def agree_dialog(
    _: Translate, title: str, message: str, action: str, on_confirm: Any, *, icon: str = "handshake"
) -> None:
    """A confirmation whose action is a step forward (accepting, ordering); :func:`common.confirm` is for
    destructive ones. ``on_confirm`` returns an error message to keep the dialog open with it."""
    with ui.dialog() as dialog, ui.card().classes("w-[480px] max-w-full p-6 gap-4").props('data-testid="agree-dialog"'):
        with ui.row().classes("items-center gap-3 no-wrap"):
            ui.icon(icon, size="28px", color="positive")
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
            ui.button(action, on_click=agree).props('unelevated no-caps color=positive data-testid="agree"')
    dialog.on("hide", dialog.delete)
    dialog.open()
