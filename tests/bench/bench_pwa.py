"""The patient app's weight and speed (issue 6).

Prints the app shell's bytes as the server sends them (every file the service worker precaches:
HTML, CSS, JS, manifest, the SVG icon, and the largest language file, as a phone precaches the
one it uses; JavaScript and CSS minified; raw and gzip),
and, in headless Chromium against the real server, the median first contentful paint of
Today with the network off (served by the service worker, the plan from IndexedDB), beside
the median time until the routine itself is drawn. Goals: under 60 KB gzip, under 300 ms.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import httpx

from tests.bench.harness import Goal, free_port, report, seed_patient, serve, server_env, temp_dir
from tests.browser.shell import lang_files, shell_files

RUNS = 9
GZIP_GOAL = 60 * 1024
FCP_GOAL_MS = 300.0

KINDS = {".html": "HTML", ".css": "CSS", ".js": "JS", ".webmanifest": "manifest", ".svg": "SVG icon"}


def shell_bytes(url: str) -> dict[str, tuple[int, int]]:
    """Raw and gzip bytes of the app shell as the server at ``url`` sends it (JavaScript and CSS
    minified), by kind of file, the largest language on its own ("language"), with a "total"."""
    sizes: dict[str, tuple[int, int]] = {}
    with httpx.Client(base_url=url) as client:

        def sent(path: str) -> tuple[int, int]:
            raw = len(client.get(path, headers={"accept-encoding": "identity"}).content)
            with client.stream("GET", path, headers={"accept-encoding": "gzip"}) as r:
                return raw, len(b"".join(r.iter_raw()))  # as sent, not unpacked

        for path in shell_files():
            raw, packed = sent(path)
            kind = KINDS.get(Path(path).suffix or ".html", Path(path).suffix)
            before = sizes.get(kind, (0, 0))
            sizes[kind] = (before[0] + raw, before[1] + packed)
        sizes["language"] = max((sent(path) for path in lang_files()), key=lambda size: size[1])
    sizes["total"] = (sum(r for r, _ in sizes.values()), sum(g for _, g in sizes.values()))
    return sizes


def offline_paint(url: str, link: str, runs: int = RUNS) -> tuple[list[float], list[float]]:
    """First contentful paint and "routine drawn" times (ms) of Today, offline, one new tab per run."""
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, PHONE

    if not CHROMIUM.exists():
        raise SystemExit(f"Chromium is missing at {CHROMIUM}: run `make system-deps`")
    fcp: list[float] = []
    drawn: list[float] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=PHONE, timezone_id="Europe/Berlin", service_workers="allow")
        page = context.new_page()
        page.goto(link)
        page.wait_for_selector("body[data-screen='today']", timeout=15_000)
        page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=15_000)
        page.close()
        context.set_offline(True)
        for _ in range(runs + 1):  # the first run warms Chromium up and is not counted
            page = context.new_page()
            page.goto(f"{url}/#/today")
            page.wait_for_selector("body[data-screen='today'] li.entry", timeout=15_000)
            timings = page.evaluate(
                """() => new Promise((resolve) => {
                  const done = () => {
                    const paint = performance.getEntriesByName("first-contentful-paint")[0];
                    const mark = performance.getEntriesByName("rendered:today")[0];
                    if (!paint) return setTimeout(done, 20);
                    resolve({ fcp: paint.startTime, drawn: mark ? mark.startTime : null });
                  };
                  done();
                })"""
            )
            fcp.append(timings["fcp"])
            drawn.append(timings["drawn"])
            page.close()
        context.close()
        browser.close()
    return fcp[1:], drawn[1:]


def main() -> list[Goal]:
    print("== patient app (issue 6): app shell size and offline paint of Today")
    with temp_dir() as tmp:
        data = Path(tmp)
        env = server_env(data, free_port())
        with serve(env) as running:
            sizes = shell_bytes(running.url)
            for kind, (raw, packed) in sizes.items():
                print(f"  {kind:<12} {raw / 1024:8.1f} KB raw {packed / 1024:8.1f} KB gzip")
            therapist, _ = seed_patient(running)
            invite = therapist.post(f"{running.url}/api/v1/patients/1/invites").json()
            fcp, drawn = offline_paint(running.url, invite["link"])
    fcp_median = statistics.median(fcp)
    print(
        f"  offline Today, {len(fcp)} runs: first contentful paint median {fcp_median:.0f} ms "
        f"(min {min(fcp):.0f}, max {max(fcp):.0f}); routine drawn median {statistics.median(drawn):.0f} ms"
    )
    shell = sizes["total"][1]
    return [
        Goal("app shell, gzip as served", f"{shell / 1024:.1f} KB (< {GZIP_GOAL // 1024} KB)", shell < GZIP_GOAL),
        Goal(
            "offline Today, first contentful paint",
            f"median {fcp_median:.0f} ms (< {FCP_GOAL_MS:.0f} ms)",
            fcp_median < FCP_GOAL_MS,
        ),
    ]


if __name__ == "__main__":
    raise SystemExit(report(main()))
