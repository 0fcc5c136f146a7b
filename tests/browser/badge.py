"""The notification badge, ``pwa/icons/badge-96.png``: drawn here with the standard library.

Android shows a notification's ``badge`` in the status bar, from its alpha channel only: without
one, Chrome shows its own browser icon there. This is the app icon's two waves (``icon.svg``) in
white on a transparent square, 96 x 96 (24 dp at 4x). After changing the drawing run::

    .venv/bin/python -m tests.browser.badge --write

A test reads the file back and compares it with :func:`draw`.
"""

from __future__ import annotations

import math
import struct
import sys
import zlib

from tests.browser.shell import PWA

__all__ = ["BADGE", "SIZE", "draw", "png", "read_png"]

BADGE = PWA / "icons" / "badge-96.png"
SIZE = 96

# icon.svg's path, in its 512 x 512 box: "M136 184c40-56 96-56 120 0s80 56 120 0" and the same wave
# 144 lower, stroked 44 wide with round caps. Each wave is two cubic curves.
_WAVE = [((136, 184), (176, 128), (232, 128), (256, 184)), ((256, 184), (280, 240), (336, 240), (376, 184))]
_STROKE = 44
# The waves (with their stroke) span x 114..398 and y 120..392: scaled to fill the badge but a
# margin, centred.
_SCALE = 84 / 284
_CENTRE = (256, 256)


def _points() -> list[tuple[float, float]]:
    """Both waves as polylines in badge pixels (one list per wave, joined)."""
    waves = []
    for dy in (0, 144):
        line: list[tuple[float, float]] = []
        for p0, p1, p2, p3 in _WAVE:
            for i in range(33):
                t = i / 32
                u = 1 - t
                x = u**3 * p0[0] + 3 * u * u * t * p1[0] + 3 * u * t * t * p2[0] + t**3 * p3[0]
                y = u**3 * p0[1] + 3 * u * u * t * p1[1] + 3 * u * t * t * p2[1] + t**3 * p3[1] + dy
                line.append(((x - _CENTRE[0]) * _SCALE + SIZE / 2, (y - _CENTRE[1]) * _SCALE + SIZE / 2))
        waves.append(line)
    return waves  # type: ignore[return-value]


def _distance(px: float, py: float, a: tuple[float, float], b: tuple[float, float]) -> float:
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    length = dx * dx + dy * dy
    t = 0.0 if length == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def draw() -> list[bytes]:
    """The badge's rows, RGBA: white, with the waves' coverage (anti-aliased) as alpha."""
    radius = _STROKE * _SCALE / 2
    segments = [(line[i], line[i + 1]) for line in _points() for i in range(len(line) - 1)]
    rows = []
    for y in range(SIZE):
        row = bytearray()
        for x in range(SIZE):
            cx, cy = x + 0.5, y + 0.5
            d = min(_distance(cx, cy, a, b) for a, b in segments)
            coverage = max(0.0, min(1.0, radius - d + 0.5))
            row += bytes((255, 255, 255, round(coverage * 255)))
        rows.append(bytes(row))
    return rows


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(rows: list[bytes]) -> bytes:
    """An 8-bit RGBA PNG of ``rows`` (no filtering)."""
    height, width = len(rows), len(rows[0]) // 4
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    data = zlib.compress(b"".join(b"\0" + row for row in rows), 9)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def read_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and RGBA rows of an 8-bit RGBA PNG written by :func:`png` (filter 0 only)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, header, idat = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert (depth, colour) == (8, 6), "not 8-bit RGBA"
    raw = zlib.decompress(idat)
    stride = 1 + width * 4
    rows = [raw[i * stride : (i + 1) * stride] for i in range(height)]
    assert all(row[0] == 0 for row in rows), "filtered rows"
    return width, height, [row[1:] for row in rows]


def main(argv: list[str]) -> int:
    if "--write" in argv:
        BADGE.write_bytes(png(draw()))
        print(f"wrote {BADGE}")
        return 0
    same = BADGE.exists() and read_png(BADGE.read_bytes())[2] == draw()
    print(f"{BADGE}: {'ok' if same else 'stale'}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
