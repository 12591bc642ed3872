"""The application factory: the REST API under /api/v1 and, unless disabled, the web UI.

Each call builds an independent app with its own database engine, so tests can run
several side by side; the NiceGUI pages are process-global and mounted once.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from commonworks import __version__
from commonworks.core.auth.routes import router as auth_router
from commonworks.core.database import Database
from commonworks.core.errors import ErrorResponse, install_handlers
from commonworks.core.orgs.routes import router as orgs_router
from commonworks.core.settings import Settings, get_settings
from commonworks.network.routes import router as network_router
from commonworks.operations.alarms import install as install_alarms
from commonworks.operations.routes import router as operations_router
from commonworks.telemetry.routes import router as telemetry_router

API_PREFIX = "/api/v1"
log = logging.getLogger(__name__)

ERROR_RESPONSES = {code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 409, 422, 429)}


def api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, responses=ERROR_RESPONSES)  # type: ignore[arg-type]

    @router.get("/health", tags=["platform"], summary="Liveness and version")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    router.include_router(auth_router)
    router.include_router(orgs_router)
    router.include_router(telemetry_router)
    router.include_router(operations_router)
    router.include_router(network_router)
    return router


def _apply_retention(db: Database, settings: Settings) -> None:
    """Apply the tenants' retention policies (several servers may do it; it is idempotent)."""
    from commonworks.telemetry.service import apply_retention

    with db.transaction() as session:
        counts = apply_retention(session, settings, now_ms=time.time_ns() // 1_000_000)
    log.info("retention: %s", counts)


def _operations_upkeep(db: Database, _settings: Settings) -> None:
    """Bring machine states up to date (recomputed from stored samples, so a second server doing it is
    harmless), evaluate the alarm rules that depend on time passing, and post due alarm notifications."""
    from commonworks.operations.alarms import deliver_due, evaluate_timed
    from commonworks.operations.derive import refresh_states

    now_ms = time.time_ns() // 1_000_000
    with db.transaction() as session:
        refresh_states(session, now_ms=now_ms)
    with db.transaction() as session:
        evaluate_timed(session, now_ms=now_ms)
    deliver_due(db)


async def _every(interval_s: float, job: Callable[[Database, Settings], None], db: Database,
                 settings: Settings) -> None:
    """Run ``job`` in a thread every ``interval_s``; upkeep never takes the server down, the next round retries."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(job, db, settings)
        except Exception:
            log.exception("%s failed", job.__name__.strip("_").replace("_", " "))


def create_app(settings: Settings | None = None, *, ui: bool | None = None) -> FastAPI:
    settings = settings or get_settings()
    db = Database(settings.sqlalchemy_url)
    install_alarms()  # ingest evaluates alarm rules

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # type: ignore[no-untyped-def]
        # Everything imported and built so far lives as long as the server: keep it out of the collector's
        # full passes, which otherwise cost 100+ ms every few large responses (measured by bench/oee.py).
        gc.collect()
        gc.freeze()
        upkeep = [asyncio.create_task(_every(interval, job, db, settings)) for job, interval in (
            (_apply_retention, settings.retention_interval_s), (_operations_upkeep, settings.states_interval_s))
            if interval]
        yield
        for task in upkeep:
            task.cancel()
        db.dispose()

    app = FastAPI(
        title="Commonworks",
        version=__version__,
        summary="Open industrial internet platform (工业互联网平台)",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    install_handlers(app)
    app.include_router(api_router())
    if settings.ui if ui is None else ui:
        from commonworks.web import mount

        mount(app, settings)
    return app
