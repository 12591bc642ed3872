"""Building blocks the network pages share: a status badge, a confirmation with a positive action,
and the row id of a detail page's path."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from commonworks.web.common import confirm
from commonworks.web.layout import Translate
from commonworks.web.network_format import Look

INPUT = "outlined dense stack-label"
MAX_ROW_ID = 2**31 - 1
# a table column showing the row's status as a coloured badge (rows carry status_color and status_label)
STATUS_SLOT = r"""
<q-td :props="props">
  <q-badge :color="props.row.status_color" :label="props.row.status_label" rounded />
</q-td>"""


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
    """A confirmation whose action is a step forward (accepting, ordering); ``on_confirm`` returns an error
    message to keep the dialog open with it."""
    confirm(_, title, message, action, on_confirm, icon=icon, color="positive", testid="agree-dialog")
