"""What runs inside an ingest transaction after the samples are stored (alarm rules, for one).

Telemetry knows nothing of its consumers: a domain registers a function with
:func:`after_store`, and ingest calls each with the tenant and the numeric samples it
stored just now (tag id → (ts, values), sorted by ts). A hook runs in the ingest's
transaction — what it writes commits with the samples, and an error in it fails the
batch, which the gateway then resends.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sqlalchemy.orm import Session

StoredSamples = dict[int, tuple[np.ndarray, np.ndarray]]
Hook = Callable[[Session, int, StoredSamples], None]

_hooks: list[Hook] = []


def after_store(hook: Hook) -> Hook:
    """Register ``hook`` (once; registering again changes nothing)."""
    if hook not in _hooks:
        _hooks.append(hook)
    return hook


def run(session: Session, org_id: int, stored: StoredSamples) -> None:
    for hook in _hooks:
        hook(session, org_id, stored)
