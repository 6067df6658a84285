"""The page's icons for a phone's home screen (the web app manifest names them), drawn
here rather than kept as binary files: the favicon's target, a ring and a dot on the
accent colour, filling the square so that a launcher may cut it to any shape ("maskable":
the drawing stays within the middle 80%)."""

from __future__ import annotations

import struct
import zlib

import numpy as np

ACCENT = (0x1F, 0x5F, 0x8B)  # style.css's --accent
PAPER = (0xFD, 0xFC, 0xF8)  # style.css's --bg
SIZES = (192, 512)  # what Android and Chrome ask for


def png(size: int) -> bytes:
    """The icon as a PNG of ``size`` x ``size`` pixels (RGB, edges smoothed)."""
    centre = (size - 1) / 2
    y, x = np.mgrid[0:size, 0:size]
    distance = np.hypot(x - centre, y - centre) / size  # in icon widths
    ring = _cover(0.30 - distance, size) * _cover(distance - 0.22, size)
    dot = _cover(0.10 - distance, size)
    ink = np.clip(ring + dot, 0.0, 1.0)[..., None]
    pixels = np.array(ACCENT, float) * (1 - ink) + np.array(PAPER, float) * ink
    rows = np.round(pixels).astype(np.uint8).reshape(size, size * 3)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)  # filter 0 before each row
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8 bits, RGB
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")
    )


def _cover(inside: np.ndarray, size: int) -> np.ndarray:
    """How much of each pixel a shape covers, from how far inside its edge the pixel's
    centre is (in icon widths): a pixel wide ramp across the edge."""
    return np.clip(inside * size + 0.5, 0.0, 1.0)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
