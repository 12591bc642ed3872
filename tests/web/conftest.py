"""Fixtures of the browser tests: one server subprocess and one chromium per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.web.support import CHROMIUM_ARGS, Server, chromium, run_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with run_server(tmp_path_factory.mktemp("web-data")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium through Playwright's sync API, for one module: while Playwright runs, its event loop is the
    thread's running loop, and a later test of the same worker that calls ``asyncio.run`` would fail."""
    executable = chromium()
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()
