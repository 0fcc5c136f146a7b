"""The patient app shell: which files the service worker precaches, and its cache version.

The shell is the code files (sw.js ``SHELL``) and one language file, the one the phone uses, of
those sw.js ``LANGS`` names (``/i18n/<code>.js``). The worker's ``VERSION`` is a hash of the code
files and every language file, so any change to them gives a new cache name and the update flow
("A new version is ready, reload"). After editing a shell file run::

    .venv/bin/python -m tests.browser.shell --write

A test fails while the version is stale.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

__all__ = ["PWA", "SW", "lang_files", "lang_urls", "shell_files", "shell_urls", "shell_version", "written_version"]

PWA = Path(__file__).resolve().parents[2] / "pwa"
SW = PWA / "sw.js"
_SHELL = re.compile(r"const SHELL = \[(.*?)\];", re.S)
_LANGS = re.compile(r"const LANGS = \[(.*?)\];", re.S)
_VERSION = re.compile(r'const VERSION = "([^"]*)";')


def _listed(pattern: re.Pattern[str], name: str, sw_text: str | None) -> list[str]:
    match = pattern.search(sw_text if sw_text is not None else SW.read_text())
    if match is None:
        raise ValueError(f"sw.js has no `const {name} = [...]`")
    return re.findall(r'"([^"]+)"', match.group(1))


def shell_urls(sw_text: str | None = None) -> list[str]:
    """The URLs listed in sw.js's SHELL array: the code files, precached on every phone."""
    return _listed(_SHELL, "SHELL", sw_text)


def lang_urls(sw_text: str | None = None) -> list[str]:
    """The language files of sw.js's LANGS, of which a phone precaches the one it uses."""
    return [f"/i18n/{code}.js" for code in _listed(_LANGS, "LANGS", sw_text)]


def _files(root: Path, urls: list[str]) -> dict[str, Path]:
    return {url: root / ("index.html" if url == "/" else url.lstrip("/")) for url in urls}


def shell_files(root: Path = PWA) -> dict[str, Path]:
    """URL -> file for every code file of the shell ("/" is index.html)."""
    return _files(root, shell_urls((root / "sw.js").read_text()))


def lang_files(root: Path = PWA) -> dict[str, Path]:
    """URL -> file for every language file."""
    return _files(root, lang_urls((root / "sw.js").read_text()))


def shell_version(root: Path = PWA) -> str:
    """A hash of the shell's code and language files' names and contents (sw.js itself excluded)."""
    digest = hashlib.sha256()
    for url, path in sorted({**shell_files(root), **lang_files(root)}.items()):
        digest.update(url.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def written_version(root: Path = PWA) -> str:
    """The VERSION currently in sw.js."""
    match = _VERSION.search((root / "sw.js").read_text())
    if match is None:
        raise ValueError('sw.js has no `const VERSION = "...";`')
    return match.group(1)


def write_version(root: Path = PWA, version: str | None = None) -> str:
    """Put ``version`` (the shell's hash by default) into sw.js."""
    version = version or shell_version(root)
    sw = root / "sw.js"
    sw.write_text(_VERSION.sub(f'const VERSION = "{version}";', sw.read_text(), count=1))
    return version


def main(argv: list[str]) -> int:
    if "--write" in argv:
        print(f"sw.js VERSION = {write_version()}")
        return 0
    current, wanted = written_version(), shell_version()
    print(f"sw.js VERSION {current}; shell hash {wanted}: {'ok' if current == wanted else 'stale'}")
    return 0 if current == wanted else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
