"""The printed plan carries each of its exercises' own stop rules and "ask first" cautions, as the
patient app shows them on each exercise's screen, each rule once and naming the exercises it is
for, within the sheet's page bounds."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import LiveServer, PageProblems
from tests.browser.console_helpers import ConsoleAccount, console_session, goto_view, pdf_pages
from tests.browser.test_console_flow import FOURTEEN

pytestmark = pytest.mark.browser

# What the sheet calls a rule for all of the plan's exercises instead of naming each.
EVERY = {"en": "All exercises", "es": "Todos los ejercicios"}


@pytest.fixture(scope="module")
def account(live_server: LiveServer) -> Iterator[ConsoleAccount]:
    created = ConsoleAccount.create(live_server, "Handout Therapist")
    yield created
    created.close()


def sentences(text: str) -> list[str]:
    """A stop text's sentences: the sheet prints a sentence several exercises share once."""
    return re.sub(r"([.!?])\s+(?=[¿¡(A-ZÁÉÍÓÚÑ])", r"\1\n", text).split("\n")


@pytest.mark.parametrize(
    ("locale", "muscles", "most_pages"),
    [
        # A usual plan: the console README's two or three pages.
        ("en", ["upper-trapezius", "levator-scapulae"], 3),
        # The longest: fourteen muscles in Spanish, five pages.
        ("es", FOURTEEN, 5),
    ],
    ids=["usual-en", "fourteen-es"],
)
def test_the_printed_plan_lists_each_exercises_own_stop_rules_and_cautions_once(
    browser: Browser,
    live_server: LiveServer,
    account: ConsoleAccount,
    page_problems: PageProblems,
    locale: str,
    muscles: list[str],
    most_pages: int,
) -> None:
    patient = account.patient("Stop Rules", locale=locale, treated=[{"muscle": m, "side": "right"} for m in muscles])
    sheet_data = account.ok(account.api.get(f"/api/v1/patients/{patient['id']}/handout"))
    catalog = {e["id"]: e for e in account.ok(account.api.get(f"/api/v1/catalog/exercises?lang={locale}"))}
    printed: dict[str, Any] = {}
    for item in sheet_data["items"]:
        if item["from_day"] <= 6:
            printed.setdefault(item["exercise_id"], {**catalog[item["exercise_id"]], "title": item["title"]})
    # Which exercises each rule is for: the catalog's texts, not copies of them.
    rules: dict[str, set[str]] = {}
    for exercise in printed.values():
        for rule in [*sentences(exercise["stop"]), *exercise["ask_first"]]:
            rules.setdefault(rule, set()).add(exercise["title"])
    assert any(len(titles) > 1 for titles in rules.values()), "the plan needs a rule shared by several exercises"
    assert any(exercise["ask_first"] for exercise in printed.values()), "the plan needs an 'ask first' caution"

    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}/handover", "handover")
        page.get_by_role("button", name="Make a code").click()  # the QR block, as right after assigning
        expect(page.locator("#handout img.qr")).to_be_visible()
        section = page.locator("#handout .handout-stops")
        page.emulate_media(media="print")
        expect(section).to_be_visible()
        expect(section.locator("h3")).to_have_count(1)
        text = section.inner_text()
        # Each entry: the exercises it is for (in bold), then its rules.
        entries = section.locator("li").evaluate_all(
            "(lis) => lis.map((li) => [li.querySelector('strong').textContent.replace(/: $/, ''), li.textContent])"
        )
        for rule, titles in rules.items():
            assert text.count(rule) == 1, f"printed {text.count(rule)} times: {rule}"
            (named,) = [names for names, entry in entries if rule in entry]
            shown = {e["title"] for e in printed.values()} if named == EVERY[locale] else set(named.split(" · "))
            assert shown == titles, (rule, named)
        assert pdf_pages(page.pdf(format="A4")) <= most_pages
