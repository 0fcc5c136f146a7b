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
def phone(
    request: pytest.FixtureRequest, browser: Browser, server: LiveServer, page_problems: PageProblems
) -> Iterator[Page]:
    """Lucía's phone, joined: Spanish browser, 360 x 740; Lucía lives in Mexico City, and so does
    the phone unless a test gives it another zone (parametrized indirectly)."""
    phone_zone = getattr(request, "param", ZONE)
    clinic = Clinic(server)
    try:
        patient = clinic.patient(name="Lucía", locale="es", timezone=ZONE)
        viewport = {"width": 360, "height": 740}
        context = new_context(browser, server, viewport=viewport, locale="es-ES", timezone_id=phone_zone)
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


def test_the_reminders_time_zone_names_its_place_in_spanish(phone: Page) -> None:
    """'Las horas son de su zona horaria: hora … (Mexico City)': the place was the zone id's English."""
    phone.locator("#nav").get_by_role("link", name="Más").click()
    wait_for_screen(phone, "more")
    phone.get_by_role("link", name="Configurar recordatorios").click()
    wait_for_screen(phone, "reminders")
    zone = phone.get_by_text("Las horas son de su zona horaria:")
    expect(zone).to_contain_text("(Ciudad de México).")
    expect(zone).not_to_contain_text("Mexico City")


@pytest.mark.parametrize("phone", ["America/New_York"], indirect=True)
def test_a_traveller_is_asked_about_the_time_zone_with_the_places_in_spanish(phone: Page) -> None:
    """The question named both places by the zone ids' English ("la hora de New York")."""
    asked = "Su teléfono usa la hora de Nueva York; los recordatorios usan la hora de Ciudad de México."
    expect(phone.get_by_text(asked)).to_be_visible()
    expect(phone.get_by_role("button", name="Sí, usar la hora de Nueva York")).to_be_visible()
