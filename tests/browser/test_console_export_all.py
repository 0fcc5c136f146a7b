"""A patient asks for a copy of their data: the console hands over everything stored about them.

The API had it (``GET /api/v1/patients/{id}/export.json``, right of access) but no page led to it:
a therapist asked for a patient's data had the CSV of their records only.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import LiveServer, PageProblems
from tests.browser.console_helpers import ConsoleAccount, console_session, wait_view

pytestmark = pytest.mark.browser


def test_the_patients_page_downloads_everything_stored_about_them(
    browser: Browser, live_server: LiveServer, page_problems: PageProblems
) -> None:
    account = ConsoleAccount.create(live_server, "Export All")
    patient = account.patient("Asks For Data", treated=[{"muscle": "scalenes", "side": "left"}])
    phone = account.joined_phone(patient["id"])
    checkin = {
        "id": str(uuid.uuid4()),
        "on_date": dt.date.today().isoformat(),
        "soreness": 3,
        "red_flags": [],
        "note": "a little stiff",
        "done_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    account.ok(phone.post("/api/v1/patient/sync", json={"checkins": [checkin]}))
    try:
        with console_session(browser, live_server, account, page_problems) as (_, page):
            page.goto(f"/console/#/patients/{patient['id']}")
            wait_view(page, "patient")
            button = page.get_by_role("button", name="Download all data (JSON)")
            expect(button).to_be_visible()
            with page.expect_download() as saved:
                button.click()
            name = saved.value.suggested_filename
            assert re.fullmatch(rf"unknot-patient-{patient['id']}-\d{{4}}-\d\d-\d\d\.json", name), name
            with open(saved.value.path(), encoding="utf-8") as file:
                everything = json.load(file)
            assert everything["patient"]["display_name"] == "Asks For Data"
            assert [c["note"] for c in everything["checkins"]] == ["a little stiff"]
            assert [d["label"] for d in everything["devices"]] == ["Test phone"]
            assert everything["plans"][0]["id"] == patient["plan"]["id"]
            # Health data leaving the system is in the patient's history.
            audit = account.ok(account.api.get(f"/api/v1/patients/{patient['id']}/audit"))
            assert [a["detail"] for a in audit if a["action"] == "records.export"] == ["everything, JSON"]
    finally:
        phone.close()
        account.close()
