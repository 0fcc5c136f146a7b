"""The printed plan says how to do each of its exercises, for a patient who has only the paper:
each first-week exercise once, with the muscles it works on, its times of day and dose, its
numbered steps, what to feel and when to stop, in the patient's language; the "ask first"
cautions once each, naming the exercises they are for; all within the sheet's page bounds
(pages counted in Chromium's PDF)."""

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

# The sheet's own words, in the patient's language (the console itself is in English).
WORDS = {
    "en": {"every": "All exercises", "feel": "What you should feel:", "stop": "When to stop:", "works": "Works on:"},
    "es": {"every": "Todos los ejercicios", "feel": "Qué debería notar:", "stop": "Cuándo parar:", "works": "Trabaja:"},
}
SLOT_WORDS = {
    "en": {"morning": "Morning", "midday": "Midday", "evening": "Evening"},
    "es": {"morning": "Mañana", "midday": "Mediodía", "evening": "Tarde y noche"},
}

# A usual plan of three muscles; the README gives the pages each prints on, before the sheet said
# how to do each exercise and now.
USUAL = ["upper-trapezius", "levator-scapulae", "rhomboids"]


@pytest.fixture(scope="module")
def account(live_server: LiveServer) -> Iterator[ConsoleAccount]:
    created = ConsoleAccount.create(live_server, "Handout Therapist")
    yield created
    created.close()


def first_week(sheet: dict[str, Any], catalog: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each exercise the sheet prints (done in the first seven days), with its catalog texts."""
    printed: dict[str, Any] = {}
    for item in sheet["items"]:
        if item["from_day"] <= 6:
            printed.setdefault(item["exercise_id"], {**catalog[item["exercise_id"]], "items": []})
            printed[item["exercise_id"]]["items"].append(item)
    return printed


@pytest.mark.parametrize(
    ("locale", "muscles", "most_pages"),
    [
        # Three muscles print on five pages (three before the sheet said how to do each exercise):
        # the steps, the feel and the stop texts of 15 exercises alone take over two pages.
        ("en", USUAL, 5),
        # The longest: fourteen muscles in Spanish, 44 exercises, twelve pages (five before).
        ("es", FOURTEEN, 12),
    ],
    ids=["usual-en", "fourteen-es"],
)
def test_the_printed_plan_says_how_to_do_each_exercise_once_within_its_pages(
    browser: Browser,
    live_server: LiveServer,
    account: ConsoleAccount,
    page_problems: PageProblems,
    locale: str,
    muscles: list[str],
    most_pages: int,
) -> None:
    words = WORDS[locale]
    patient = account.patient("How To", locale=locale, treated=[{"muscle": m, "side": "right"} for m in muscles])
    sheet_data = account.ok(account.api.get(f"/api/v1/patients/{patient['id']}/handout"))
    # The catalog's texts and the content's muscle names, not copies of them.
    catalog = {e["id"]: e for e in account.ok(account.api.get(f"/api/v1/catalog/exercises?lang={locale}"))}
    names = {
        m["id"]: m["name"]
        for region in account.ok(account.api.get(f"/api/v1/catalog/muscles?lang={locale}"))
        for m in region["muscles"]
    }
    printed = first_week(sheet_data, catalog)
    assert any(e["muscles"] for e in printed.values()), "the plan needs exercises for named muscles"

    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}/handover", "handover")
        page.get_by_role("button", name="Make a code").click()  # the QR block, as right after assigning
        expect(page.locator("#handout img.qr")).to_be_visible()
        page.emulate_media(media="print")
        sheet = page.locator("#handout")
        expect(sheet).to_have_attribute("lang", locale)
        blocks = page.locator("#handout .handout-exercise")
        expect(blocks.first).to_be_visible()
        shown = blocks.evaluate_all(
            """(blocks) => blocks.map((b) => ({
                 id: b.dataset.exercise,
                 title: b.querySelector('h5').textContent,
                 doses: [...b.querySelectorAll('.dose')].map((d) => d.textContent),
                 steps: [...b.querySelectorAll('ol.steps > li')].map((li) => li.textContent),
                 targets: b.querySelector('.targets')?.textContent ?? null,
                 feel: b.querySelector('.feel')?.textContent ?? null,
                 stop: b.querySelector('.stop')?.textContent ?? null,
                 visible: b.checkVisibility(),
               }))"""
        )
        assert all(b["visible"] for b in shown), "every exercise is in the print view"
        # Each exercise says how to do it exactly once; a later phase's block points back to it.
        full = [b for b in shown if b["steps"]]
        assert sorted(b["id"] for b in full) == sorted(printed), "each first-week exercise once, in full"
        for block in full:
            exercise = printed[block["id"]]
            assert block["title"].startswith(exercise["title"])
            assert block["steps"] == exercise["steps"], block["id"]
            assert block["feel"] == f"{words['feel']} {exercise['feel']}", block["id"]
            assert block["stop"] == f"{words['stop']} {exercise['stop']}", block["id"]
            if exercise["muscles"]:
                assert block["targets"] == f"{words['works']} " + ", ".join(names[m] for m in exercise["muscles"])
            else:
                assert block["targets"] is None  # breathing, a walk: no muscle to name
        # Every first-week item's dose under its exercise, with its times of day.
        for exercise in printed.values():
            doses = [d for b in shown if b["id"] == exercise["id"] for d in b["doses"]]
            for item in exercise["items"]:
                first_slot = SLOT_WORDS[locale][next(s for s in ("morning", "midday", "evening") if s in item["slots"])]
                assert any(d.startswith(first_slot) and item["dosage_text"] in d for d in doses), item
        assert len(shown) == len({(i["exercise_id"], i["phase"]) for e in printed.values() for i in e["items"]})

        # The "ask first" cautions: each once, naming the exercises it is for.
        asks: dict[str, set[str]] = {}
        for exercise in printed.values():
            for caution in exercise["ask_first"]:
                asks.setdefault(caution, set()).add(exercise["title"])
        assert asks, "the plan needs an 'ask first' caution"
        section = page.locator("#handout .handout-ask")
        expect(section).to_be_visible()
        text = section.inner_text()
        entries = section.locator("li").evaluate_all(
            "(lis) => lis.map((li) => [li.querySelector('strong').textContent.replace(/: $/, ''), li.textContent])"
        )
        everyone = {e["title"] for e in printed.values()}
        for caution, titles in asks.items():
            assert text.count(caution) == 1, f"printed {text.count(caution)} times: {caution}"
            (named,) = [names for names, entry in entries if caution in entry]
            assert (everyone if named == words["every"] else set(named.split(" · "))) == titles, (caution, named)

        pages = pdf_pages(page.pdf(format="A4"))
        print(f"\n{locale}, {len(muscles)} muscles, {len(printed)} exercises: {pages} pages")
        assert pages <= most_pages


def test_the_short_sheet_for_a_patient_with_the_app_leaves_out_the_how_to_but_never_when_to_stop(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Short Sheet", treated=[{"muscle": m, "side": "left"} for m in USUAL])
    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}/handover", "handover")
        page.emulate_media(media="print")
        full = pdf_pages(page.pdf(format="A4"))
        page.emulate_media(media="screen")
        choice = page.get_by_role("checkbox", name="Print how to do each exercise")
        expect(choice).to_be_checked()
        expect(choice).to_have_accessible_description(re.compile("When to stop is always printed"))
        choice.uncheck()
        page.emulate_media(media="print")
        blocks = page.locator("#handout .handout-exercise")
        expect(blocks.first).to_be_visible()
        seen = blocks.evaluate_all(
            """(blocks) => blocks.map((b) => ({
                 stop: b.querySelector('.stop')?.checkVisibility() ?? null,
                 dose: b.querySelector('.dose').checkVisibility(),
                 howto: [...b.querySelectorAll('.steps, .feel, .targets, .small')].some((e) => e.checkVisibility()),
               }))"""
        )
        assert all(b["dose"] for b in seen)
        assert all(not b["howto"] for b in seen)
        assert [b for b in seen if b["stop"]], "the blocks that said how to do an exercise still say when to stop"
        assert all(b["stop"] is not False for b in seen)
        short = pdf_pages(page.pdf(format="A4"))
        print(f"\nusual plan: {full} pages with the how-to, {short} without")
        assert short <= 3 < full


def test_the_spanish_sheet_counts_days_as_the_app_and_names_sides_and_times_of_day_as_it_does(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    """The patient reads the paper beside the app: the day of needling is day 1 on both (the app's
    Today says "Día 1", its Progress "Días 1-2"; the sheet said "Días 0-1"), a side is "lado
    derecho" as the app says it (not "(derecha)" after a muscle's name), the times of day are the
    app's names (not "Mañana y tarde y noche", which reads as three), and the therapist is "Su
    terapeuta", as on the app's Warning signs."""
    treated = [{"muscle": "upper-trapezius", "side": "left"}, {"muscle": "levator-scapulae", "side": "right"}]
    patient = account.patient("Lado Días", locale="es", treated=treated)
    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}/handover", "handover")
        page.emulate_media(media="print")
        sheet = page.locator("#handout")
        expect(sheet).to_have_attribute("lang", "es")
        phases = page.locator("#handout .handout-phase h4").all_inner_texts()
        assert [p.split(" · ")[0] for p in phases] == ["Días 1\u20132", "Días 3\u20137"], phases
        expect(sheet).to_contain_text("El día 1 es el día del tratamiento.")
        expect(sheet).to_contain_text("A partir del día 8,")
        text = sheet.inner_text()
        assert "día 0" not in text.lower()
        assert "días 0" not in text.lower()
        assert "como los días 1\u20132, más arriba" in text  # an exercise of days 1-2 again on days 3-7

        head = page.locator("#handout .handout-head").inner_text()
        assert "Trapecio superior (parte alta del hombro) (lado izquierdo)" in head
        assert "(lado derecho)" in head
        assert "derecha)" not in head
        assert "izquierda)" not in head
        titles = page.locator("#handout .handout-exercise h5").all_inner_texts()
        sided = [t for t in titles if t.endswith("lado izquierdo)") or t.endswith("lado derecho)")]
        assert sided, titles
        assert not [t for t in titles if t.endswith("(izquierda)") or t.endswith("(derecha)")], titles

        doses = page.locator("#handout .dose strong").all_inner_texts()
        assert "Mañana, Tarde y noche: " in doses, doses
        assert not [d for d in doses if " y tarde y noche" in d], doses
        expect(page.locator("#handout .handout-contact").first).to_have_text(re.compile(r"^Su terapeuta: "))


def test_the_spanish_sheets_code_block_and_contact_line_read_as_spanish_without_a_double_colon(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Código Qr", locale="es", treated=[{"muscle": "masseter", "side": "left"}])
    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}/handover", "handover")
        page.get_by_role("button", name="Make a code").click()
        qr = page.locator("#handout img.qr")
        expect(qr).to_have_attribute("alt", re.compile(r"^Código QR del enlace de invitación https?://"))
        # The hand-over screen itself stays in the console's English.
        expect(page.locator("#invite-code").locator("xpath=..").locator("img.qr")).to_have_attribute(
            "alt", re.compile(r"^QR code of the invite link ")
        )
        # The link on paper breaks after its separators only: each group of the code stays whole.
        link = page.locator("#handout .handout-join .link")
        code = page.locator("#invite-code").inner_text().split()[-1]
        assert link.inner_text().endswith(code)
        pieces = link.evaluate("el => [...el.childNodes].filter(n => n.nodeType === 3).map(n => n.data)")
        assert [g + "-" for g in code.split("-")[:-1]] + [code.split("-")[-1]] == pieces[-4:], pieces
        contact = page.locator("#handout .handout-flags .handout-contact")
        lines = contact.inner_text().splitlines()
        assert lines[0] == "Para contactar con la clínica"
        assert lines[1].startswith("Su terapeuta: ")
