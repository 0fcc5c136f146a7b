"""The PWA's files as the browser gets them: JavaScript and CSS minified from the source in
``pwa/``, the same code token for token, and the patient app's shell within its weight
(issue 6: under 60 KB gzip, every file the service worker precaches on a phone: the code files
and the language file the phone uses)."""

from __future__ import annotations

import gzip
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import tree_sitter_javascript
from litestar import Litestar
from litestar.testing import AsyncTestClient
from tree_sitter import Language, Parser

from server.api.compression import STATIC_FILE_BUFFER
from server.app import create_app
from server.settings import Settings
from tests.bench.bench_pwa import GZIP_GOAL
from tests.browser.shell import PWA, lang_files, shell_files
from tests.conftest import PLANS

Client = AsyncTestClient[Litestar]

_parser = Parser(Language(tree_sitter_javascript.language()))


def js_tokens(source: bytes) -> list[tuple[str, bytes]]:
    """The program's tokens (kind and text, template text included), without its comments.

    Fails on a syntax error: a minifier that misread the code must not pass as equal.
    """
    tree = _parser.parse(source)
    assert not tree.root_node.has_error, "the JavaScript does not parse"
    tokens, stack = [], [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "comment":
            continue
        if node.child_count == 0:
            tokens.append((node.type, source[node.start_byte : node.end_byte]))
        else:
            stack.extend(reversed(node.children))
    return tokens


async def served_app(tmp_path: Path, pwa_dir: Path = PWA) -> AsyncIterator[Client]:
    settings = Settings.from_env(
        {},
        database_url=str(tmp_path / "unknot.db"),
        data_dir=str(tmp_path / "data"),
        plans_dir=str(PLANS),
        pwa_dir=str(pwa_dir),
        scheduler=False,
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    async for client in served_app(tmp_path):
        yield client


def _url(path: Path) -> str:
    return "/" + path.relative_to(PWA).as_posix()


async def test_every_javascript_file_is_served_as_its_own_code_without_comments_and_spaces(client: Client) -> None:
    files = sorted(PWA.rglob("*.js"))
    assert len(files) > 30  # the patient app, its worker, both languages and the console
    for path in files:
        r = await client.get(_url(path), headers={"accept-encoding": "identity"})
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/javascript")
        assert int(r.headers["content-length"]) == len(r.content)
        source = path.read_bytes()
        assert len(r.content) < len(source), path
        # Nested template literals are where a comment stripper that is not a parser slips: it
        # took the inner one's text for code and dropped the spaces in ` (${error})`.
        assert js_tokens(r.content) == js_tokens(source), f"{path} is served as different code"


def test_the_token_comparison_sees_a_space_lost_from_a_templates_text() -> None:
    source = b'const a = `${x}${y ? ` (${y})` : ""}`; // note\n'
    assert js_tokens(b'const a=`${x}${y ? ` (${y})` : ""}`;') == js_tokens(source)
    assert js_tokens(b'const a=`${x}${y ? `(${y})` : ""}`;') != js_tokens(source)


async def test_css_is_served_smaller_and_html_as_it_is(client: Client) -> None:
    for url, path in (("/app.css", PWA / "app.css"), ("/console/console.css", PWA / "console" / "console.css")):
        r = await client.get(url)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/css")
        assert len(r.content) < 0.85 * len(path.read_bytes()), url
        assert b"/*" not in r.content
    r = await client.get("/")
    assert r.content == (PWA / "index.html").read_bytes()


async def test_shell_files_are_sent_compressed_and_small_api_answers_as_they_are(client: Client) -> None:
    """Every byte of the shell is downloaded before the app works offline: the files under the
    1 KB below which answers made per request are not worth compressing are sent gzipped too."""
    shell = {**shell_files(), **lang_files()}
    files = {url: path for url, path in shell.items() if len(path.read_bytes()) > 300}
    assert "/manifest.webmanifest" in files
    assert "/js/app.js" in files
    for url, path in files.items():
        async with client.stream("GET", url, headers={"accept-encoding": "gzip, deflate, br"}) as r:
            sent = b"".join([chunk async for chunk in r.aiter_raw()])
        assert r.headers["content-encoding"] == "gzip", url
        assert int(r.headers["content-length"]) == len(sent) < len(path.read_bytes()), url
        assert "accept-encoding" in r.headers["vary"].lower(), url
        assert gzip.decompress(sent) == (await client.get(url, headers={"accept-encoding": "identity"})).content
    r = await client.get("/api/v1/ping", headers={"accept-encoding": "gzip"})
    assert r.status_code == 200
    assert "content-encoding" not in r.headers


async def sent_gzip(client: Client, url: str) -> int:
    """Bytes of ``url`` as a phone downloads it, gzipped, not unpacked."""
    async with client.stream("GET", url, headers={"accept-encoding": "gzip"}) as r:
        assert r.status_code == 200, url
        return len(b"".join([chunk async for chunk in r.aiter_raw()]))


async def test_the_app_shell_as_a_phone_downloads_it_is_under_60_kb_gzip(client: Client) -> None:
    """A phone precaches the code files and one language, the one it uses (sw.js): the largest
    counts. Every language is one file that a phone's worker can precache alone."""
    code = sum([await sent_gzip(client, url) for url in shell_files()])
    languages = {url: await sent_gzip(client, url) for url in lang_files()}
    assert set(languages) == {"/i18n/en.js", "/i18n/es.js"}
    total = code + max(languages.values())
    assert total < GZIP_GOAL, f"the app shell is {total / 1024:.1f} KB gzip (goal < 60 KB)"
    # Not every language: a phone downloads one (both were precached, 59.9 KB before 2026-11-27).
    assert not set(languages) & set(shell_files()), "a language file is in sw.js SHELL: list it in LANGS"


async def test_a_changed_file_is_served_changed_with_a_new_etag(tmp_path: Path) -> None:
    folder = tmp_path / "pwa"
    shutil.copytree(PWA, folder)
    script = folder / "js" / "words.js"
    async for client in served_app(tmp_path, folder):
        first = await client.get("/js/words.js")
        assert (await client.get("/js/words.js")).headers["etag"] == first.headers["etag"]
        script.write_text(script.read_text() + "\n// a comment, not served\nexport const ADDED = 1;\n")
        stat = script.stat()
        os.utime(script, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        # Asked whether it changed (the browser's copy's ETag): it did, so all of it comes.
        second = await client.get(
            "/js/words.js", headers={"accept-encoding": "identity", "if-none-match": first.headers["etag"]}
        )
        assert second.status_code == 200
        assert second.headers["etag"] != first.headers["etag"]
        assert second.content.endswith(b"export const ADDED=1;")
        assert int(second.headers["content-length"]) == len(second.content)
        head = await client.head("/js/words.js", headers={"accept-encoding": "identity"})
        assert head.headers["content-length"] == second.headers["content-length"]
        assert head.content == b""


async def test_a_file_the_browser_already_has_is_answered_304_without_its_body(client: Client) -> None:
    # The app's files are no-cache: the browser asks each time whether one changed (the service
    # worker's update check asks for sw.js and core.js on every start). An unchanged one costs a
    # few headers, not the whole file again.
    for url in ("/sw.js", "/js/core.js", "/", "/manifest.webmanifest"):
        for encoding in ("gzip", "identity"):
            first = await client.get(url, headers={"accept-encoding": encoding})
            assert first.status_code == 200, url
            etag = first.headers["etag"]
            again = await client.get(url, headers={"accept-encoding": encoding, "if-none-match": etag})
            assert again.status_code == 304, url
            assert again.content == b"", url
            assert again.headers["etag"] == etag
            assert again.headers["cache-control"] == "no-cache"
            assert "content-encoding" not in again.headers
            # One of several, and a weak comparison: the same.
            listed = await client.get(url, headers={"accept-encoding": encoding, "if-none-match": f'"other", W/{etag}'})
            assert listed.status_code == 304, url
        # HEAD sends no body, so nothing gzipped: it names the plain file's ETag.
        plain = (await client.get(url, headers={"accept-encoding": "identity"})).headers["etag"]
        assert (await client.head(url, headers={"if-none-match": plain})).status_code == 304, url
    # Another ETag (an older version's) gets the file.
    other = await client.get("/js/core.js", headers={"accept-encoding": "gzip", "if-none-match": '"older"'})
    assert other.status_code == 200
    assert other.headers["content-encoding"] == "gzip"
    assert len(other.content) > 1000
    # The API is not a file: its answers are never 304.
    ping = await client.get("/api/v1/ping", headers={"if-none-match": "*"})
    assert ping.status_code == 200


async def test_the_gzipped_and_the_plain_copy_of_a_file_have_each_their_own_etag(client: Client) -> None:
    """Both are answers to one URL (Vary: Accept-Encoding). With one ETag for both, a cache that
    holds one copy could answer a conditional request for the other with its 304: the client would
    keep gzip bytes it cannot read as the file, or the reverse."""
    for url in ("/sw.js", "/js/core.js", "/"):
        plain = await client.get(url, headers={"accept-encoding": "identity"})
        zipped = await client.get(url, headers={"accept-encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip", url
        assert "accept-encoding" in zipped.headers["vary"].lower(), url
        assert zipped.headers["etag"] == plain.headers["etag"][:-1] + '-gz"', url
        # Each copy is "not modified" only for its own ETag: asked with the other's, the whole file comes.
        for encoding, theirs, mine in (("gzip", plain, zipped), ("identity", zipped, plain)):
            asked = await client.get(
                url, headers={"accept-encoding": encoding, "if-none-match": theirs.headers["etag"]}
            )
            assert asked.status_code == 200, (url, encoding)
            assert asked.content == mine.content, (url, encoding)
            assert asked.headers["etag"] == mine.headers["etag"], (url, encoding)


async def test_a_file_too_large_to_hold_is_streamed_gzipped_with_its_own_etag_too(tmp_path: Path) -> None:
    folder = tmp_path / "pwa"
    shutil.copytree(PWA, folder)
    (folder / "large.txt").write_bytes(os.urandom(STATIC_FILE_BUFFER).hex().encode())
    async for client in served_app(tmp_path, folder):
        plain = await client.get("/large.txt", headers={"accept-encoding": "identity"})
        zipped = await client.get("/large.txt", headers={"accept-encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.content == plain.content
        assert zipped.headers["etag"] == plain.headers["etag"][:-1] + '-gz"'
        again = await client.get(
            "/large.txt", headers={"accept-encoding": "gzip", "if-none-match": zipped.headers["etag"]}
        )
        assert (again.status_code, again.content) == (304, b"")


async def test_head_asks_for_a_file_as_get_does_the_app_s_start_page_too(client: Client) -> None:
    # Uptime monitors ask with HEAD; Litestar's html mode served GET / but answered HEAD / with 405.
    for url in ("/", "/index.html", "/js/core.js"):
        got = await client.get(url, headers={"accept-encoding": "identity"})
        asked = await client.head(url, headers={"accept-encoding": "identity"})
        assert asked.status_code == 200, url
        assert asked.content == b"", url
        assert asked.headers["content-length"] == str(len(got.content)), url
        assert asked.headers["etag"] == got.headers["etag"], url
        assert asked.headers["cache-control"] == got.headers["cache-control"], url
