"""After an upgrade the console runs the new files, not copies the browser kept unasked.

Without a Cache-Control header a browser may reuse a file for a tenth of the time since it last
changed (heuristic freshness): a console file unchanged for months was kept for days, and after an
upgrade the therapist's console ran old modules beside new ones against the new API.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.browser.conftest import PageProblems, new_context, serve
from tests.browser.console_helpers import TABLET, wait_view

pytestmark = pytest.mark.browser

MONTHS_AGO = time.time() - 120 * 86400


def test_an_upgraded_console_file_is_used_at_the_next_visit(
    browser: Browser, tmp_path: Path, page_problems: PageProblems
) -> None:
    with serve(tmp_path) as server:
        console = server.pwa_dir / "console"
        for path in [console, *console.rglob("*")]:
            os.utime(path, (MONTHS_AGO, MONTHS_AGO))  # a clinic's files from the last release
        context = new_context(browser, server, viewport=TABLET, service_workers="block")
        context.on("page", page_problems.watch)
        try:
            page = context.new_page()
            page.goto("/console/")
            wait_view(page, "signin")
            assert page.evaluate("document.body.dataset.release") is None
            # The upgrade: a new main.js, as `git pull` leaves it.
            main = console / "js" / "main.js"
            main.write_text(main.read_text() + '\ndocument.body.dataset.release = "new";\n')
            later = context.new_page()
            later.goto("/console/")
            wait_view(later, "signin")
            later.wait_for_function("() => document.body.dataset.release === 'new'", timeout=5_000)
        finally:
            context.close()
    assert not page_problems.errors, "\n".join(page_problems.errors)
