"""A Spanish-speaking patient's phone: a 360 px screen, the browser in Spanish, a clinic with a phone
number, the patient in Mexico City. What the Spanish words change: longer lines and place names."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    Clinic,
    LiveServer,
    PageProblems,
    join_in_browser,
    new_context,
    serve,
    wait_for_screen,
)

pytestmark = pytest.mark.browser

PHONE_NUMBER = "+34 910 000 000"
ZONE = "America/Mexico_City"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own: the clinic's phone number is a setting."""
    with serve(tmp_path_factory.mktemp("spanish"), clinic_name="Clínica Sol", clinic_phone=PHONE_NUMBER) as live:
        yield live


@pytest.fixture
def phone(browser: Browser, server: LiveServer, page_problems: PageProblems) -> Iterator[Page]:
    """Lucía's phone, joined: Spanish browser, 360 x 740, in Mexico City."""
    clinic = Clinic(server)
    try:
        patient = clinic.patient(name="Lucía", locale="es", timezone=ZONE)
        context = new_context(browser, server, viewport={"width": 360, "height": 740}, locale="es-ES", timezone_id=ZONE)
        context.on("page", page_problems.watch)
        page = context.new_page()
        join_in_browser(page, clinic.invite(patient))
        yield page
        context.close()
    finally:
        clinic.close()
    assert not page_problems.errors, "\n".join(page_problems.errors)


def lines_of(page: Page, selector: str, text: str) -> int:
    """On how many lines ``text`` (inside the element; any space matches a no-break one) is laid out."""
    return page.evaluate(
        """([selector, text]) => {
          const el = document.querySelector(selector);
          const node = [...el.childNodes].find((n) => n.nodeType === Node.TEXT_NODE);
          const start = node.data.replace(/\u00a0/g, " ").indexOf(text);
          if (start < 0) throw new Error(`no ${text} in ${node.data}`);
          const range = document.createRange();
          range.setStart(node, start);
          range.setEnd(node, start + text.length);
          return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
        }""",
        [selector, text],
    )


def test_the_clinics_number_on_the_call_button_is_never_broken_over_two_lines(phone: Page) -> None:
    """'Llamar al +34 910 000 000' does not fit a 360 px phone's button on one line: it broke as
    '+34 910 000' over '000', a wrong number to whoever dials what they read."""
    phone.locator("#warn").click()
    wait_for_screen(phone, "help")
    call = phone.locator(".contact-call")
    expect(call).to_have_attribute("href", "tel:+34910000000")
    assert lines_of(phone, ".contact-call", PHONE_NUMBER) == 1
