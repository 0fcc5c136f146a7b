"""The patient app's files, checked without a browser: shell list and version, CSP-safe markup,
no third-party requests, every interface text present."""

from __future__ import annotations

import re
import typing

from server.api.errors import Refusal
from server.catalog.model import Kind, RedFlag, Side, Slot
from tests.browser.shell import PWA, lang_files, shell_files, shell_version, written_version

# Served from pwa/ but deliberately not precached: install-time icons, notes, the console's own files.
NOT_IN_SHELL = {"sw.js", "README.md", "icons/icon-maskable.svg"}


def app_files() -> list[str]:
    """Every file of the patient app under pwa/ (the therapist console excluded)."""
    return sorted(
        str(p.relative_to(PWA)) for p in PWA.rglob("*") if p.is_file() and p.relative_to(PWA).parts[0] != "console"
    )


def test_service_worker_version_matches_the_shell() -> None:
    assert written_version() == shell_version(), (
        "sw.js VERSION is stale: run `.venv/bin/python -m tests.browser.shell --write` after changing a shell file"
    )


def test_every_app_file_is_precached_and_every_precached_file_exists() -> None:
    shell = {**shell_files(), **lang_files()}
    missing = [url for url, path in shell.items() if not path.is_file()]
    assert not missing, f"in SHELL but not in pwa/: {missing}"
    listed = {str(path.relative_to(PWA)) for path in shell.values()}
    extra = [f for f in app_files() if f not in listed and f not in NOT_IN_SHELL and not f.endswith(".png")]
    assert not extra, f"add these to SHELL in sw.js (or to NOT_IN_SHELL here): {extra}"


def test_the_worker_knows_every_language_the_app_has_and_no_other() -> None:
    """sw.js precaches one of its LANGS (the phone's): one the app has but the worker does not
    know would never be stored for offline use, nor would the worker's pick match the page's."""
    page = re.search(r"export const LANGS = \[(.*?)\];", (PWA / "js" / "i18n.js").read_text())
    assert page is not None
    files = sorted(f"/{f}" for f in app_files() if f.startswith("i18n/"))
    assert sorted(lang_files()) == files
    assert [f"/i18n/{code}.js" for code in re.findall(r'"([^"]+)"', page.group(1))] == list(lang_files())


def test_index_preloads_every_module() -> None:
    html = (PWA / "index.html").read_text()
    preloaded = set(re.findall(r'<link rel="modulepreload" href="/([^"]+)">', html))
    modules = {f for f in app_files() if f.startswith("js/") and f != "js/app.js"}
    assert preloaded == modules, f"missing {modules - preloaded}, stale {preloaded - modules}"


def test_no_inline_script_or_style_and_no_html_injection() -> None:
    html = (PWA / "index.html").read_text()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html), "inline event handlers break the CSP"
    forbidden = re.compile(
        r"\.style\.|setAttribute\(\s*[\"']style|innerHTML|outerHTML|insertAdjacentHTML"
        r"|document\.write|\beval\(|new Function"
    )
    assert scripts_using(forbidden) == {}


def test_no_script_api_newer_than_chrome_80_or_safari_14() -> None:
    # Phones still in use run Chrome/WebView 80-85 and Samsung Internet 12-13: one such call on
    # the way to the first screen and nothing draws (replaceChildren is Chrome 86).
    newer = re.compile(
        r"\.replaceChildren\(|\.at\(|structuredClone|Object\.hasOwn|\.replaceAll\(|Promise\.any"
        r"|\.findLast|\|\|=|&&=|\?\?="
    )
    assert scripts_using(newer) == {}, "give these a fallback"


def scripts_using(pattern: re.Pattern[str]) -> dict[str, list[str]]:
    """The app's scripts in which ``pattern`` is found, with what was found."""
    found = {name: pattern.findall((PWA / name).read_text()) for name in app_files() if name.endswith(".js")}
    return {name: hits for name, hits in found.items() if hits}


def test_no_third_party_addresses() -> None:
    allowed = {"http://www.w3.org/2000/svg"}
    for name in app_files():
        if name.endswith((".js", ".html", ".css", ".webmanifest", ".svg")):
            urls = set(re.findall(r"https?://[^\s\"')]+", (PWA / name).read_text())) - allowed
            assert not urls, f"{name} refers to {urls}"


def test_every_text_the_code_asks_for_exists_in_english() -> None:
    en = (PWA / "i18n" / "en.js").read_text()
    keys = set(re.findall(r'^\s+"?([a-z_-]+)"?:', en, re.M))
    code = "\n".join((PWA / f).read_text() for f in app_files() if f.startswith("js/"))
    used: set[str] = set()
    # Every key in t()'s first argument, ternaries included: t(done ? "a_key" : "b_key", ...).
    for first_argument in re.findall(r"\bt\(\s*([^,)`]*)", code):
        used |= set(re.findall(r'(?:^|[?:])\s*"([a-z_-]+)"', first_argument))
    used |= set(re.findall(r'data-i18n(?:-label)?="([a-z_]+)"', (PWA / "index.html").read_text()))
    # Keys built from data: every kind, side, slot and urgency the server can send.
    used |= {f"kind_{k}" for k in typing.get_args(Kind)}
    used |= {f"side_{s}" for s in typing.get_args(Side)} | {f"side_short_{s}" for s in typing.get_args(Side)}
    used |= {f"slot_{s}" for s in typing.get_args(Slot)}
    urgency = typing.get_type_hints(RedFlag)["urgency"]
    used |= {f"urgency_{u}" for u in typing.get_args(urgency)}
    missing = sorted(used - keys)
    assert not missing, f"missing in i18n/en.js: {missing}"


def test_every_reason_the_server_refuses_a_record_for_has_words_in_every_language() -> None:
    """The More screen words each refusal code in the patient's language (refusal_<code>); a code
    without them would show a Spanish patient the server's English message."""
    for name in ("en.js", "es.js"):
        text = (PWA / "i18n" / name).read_text(encoding="utf-8")
        keys = set(re.findall(r'^\s+"?([a-z_-]+)"?:', text, re.M))
        missing = sorted(f"refusal_{code}" for code in typing.get_args(Refusal) if f"refusal_{code}" not in keys)
        assert not missing, f"missing in i18n/{name}: {missing}"


# The informal "tú" forms most likely to slip in (the app speaks to patients as "usted"), as whole
# words: pronouns and possessives, and the verbs the app's sentences use.
INFORMAL = re.compile(
    r"\b(tú|tu|tus|ti|contigo|estás|tienes|puedes|quieres|eres|necesitas|debes|vuelvas|inténtalo|tócalo)\b", re.I
)


def test_the_spanish_texts_address_the_patient_as_usted() -> None:
    es = (PWA / "i18n" / "es.js").read_text(encoding="utf-8")
    texts = [line for line in es.splitlines() if not line.lstrip().startswith("//")]
    informal = [line.strip() for line in texts if INFORMAL.search(line)]
    assert not informal, informal
