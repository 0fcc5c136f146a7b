"""The app computes any day's routine offline: it must agree with the server, day by day."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import Clinic, local_today, wait_for_screen

pytestmark = pytest.mark.browser

# Runs in the page: the app's own routine.js against GET /today for every day of the plan,
# from two days before it starts to two days after it ends.
COMPARE = """async ({ token, lang }) => {
  const { routineFor, programDays } = await import("/js/routine.js");
  const { addDays } = await import("/js/dates.js");
  const auth = { headers: { Authorization: `Bearer ${token}` } };
  const bundle = await (await fetch(`/api/v1/patient/plan?lang=${lang}`, auth)).json();
  const start = bundle.program.treated_on;
  const days = programDays(bundle.program);
  const problems = [];
  let compared = 0;
  let withEntries = 0;
  for (let d = -2; d < days + 2; d++) {
    const date = addDays(start, d);
    const server = await (await fetch(`/api/v1/patient/today?date=${date}&lang=${lang}`, auth)).json();
    const mine = routineFor(bundle, date);
    const shape = (r, titles) => JSON.stringify({
      day: r.day, phase: r.phase, phase_name: r.phase_name, aftercare: r.aftercare,
      red_flags: titles ? r.red_flags.map((f) => f.id) : r.red_flags,
      entries: r.entries.map((e) => ({
        exercise_id: e.exercise_id, slot: e.slot, side: e.side, dosage: e.dosage,
        title: titles ? e.title : bundle.exercises[e.exercise_id].title,
        kind: titles ? e.kind : bundle.exercises[e.exercise_id].kind,
      })),
    });
    const a = shape(server, true);
    const b = shape(mine, false);
    if (a !== b) problems.push({ date, server: a, app: b });
    compared += 1;
    if (mine.entries.length) withEntries += 1;
  }
  return { problems, compared, withEntries, days };
}"""


def rest_days_items(clinic: Clinic, treated: list[dict[str, str]], treated_on: dt.date) -> list[dict]:
    """The generated items with some done fewer than 7 days a week, so resting days are compared too."""
    items = copy.deepcopy(clinic.preview(treated, treated_on))
    for i, item in enumerate(items):
        if i % 3 == 1:
            item["dosage"]["days_per_week"] = 3
        elif i % 3 == 2:
            item["dosage"]["days_per_week"] = 5
    return items


@pytest.mark.parametrize(
    ("treated", "edited", "lang"),
    [
        # chest-wall precaution: the breathing red flag for the first 48 hours only
        ([{"muscle": "upper-trapezius", "side": "left"}, {"muscle": "pectoralis-major", "side": "right"}], True, "en"),
        ([{"muscle": "masseter", "side": "both"}], False, "es"),
    ],
    ids=["chest-wall-rest-days-en", "jaw-generated-es"],
)
def test_app_routine_matches_the_server_for_every_day(
    page: Page, clinic: Clinic, treated: list[dict[str, str]], edited: bool, lang: str
) -> None:
    treated_on = local_today() - dt.timedelta(days=3)
    items = rest_days_items(clinic, treated, treated_on) if edited else None
    patient = clinic.patient(treated, treated_on, items=items, locale=lang)
    token = clinic.join(patient)
    page.goto("/")
    wait_for_screen(page, "join")
    result = page.evaluate(COMPARE, {"token": token, "lang": lang})
    assert result["compared"] == result["days"] + 4
    assert result["withEntries"] >= result["days"] // 2
    assert not result["problems"], result["problems"][:3]
