#!/usr/bin/env python3
"""Draws the web app manifest's PNG icons from the design of favicon.svg (a
dark-purple rounded square with five viridis cells on a diagonal), with the
standard library only (zlib): icon-192.png, icon-512.png, and
icon-maskable-512.png (full bleed, the design inside the central 80 % safe
zone). Run it here after changing the design; the PNGs are committed."""

import struct
import zlib

PURPLE, YELLOW, TEAL = (0x44, 0x01, 0x54), (0xFD, 0xE7, 0x25), (0x21, 0x91, 0x8C)
# favicon.svg's cells on its 16-unit grid: (x, y, colour), each 3 units wide.
CELLS = [(3, 3, YELLOW), (6.5, 6.5, YELLOW), (10, 10, YELLOW), (6.5, 3, TEAL), (10, 6.5, TEAL)]


def colour_at(u, v, rounded):
    """The design's colour at (u, v) in grid units, or None outside it."""
    if not (0 <= u < 16 and 0 <= v < 16):
        return None
    if rounded:  # rx = 3 corners
        cx, cy = min(max(u, 3), 13), min(max(v, 3), 13)
        if (u - cx) ** 2 + (v - cy) ** 2 > 9:
            return None
    for x, y, c in CELLS:
        if x <= u < x + 3 and y <= v < y + 3:
            return c
    return PURPLE


def draw(size, maskable):
    # Maskable: purple everywhere, the 16-unit design scaled into 80 %.
    scale, offset = (16 / (0.8 * size), -0.1 * size) if maskable else (16 / size, 0.0)
    ss = 4  # 4×4 samples per pixel
    rows = []
    for py in range(size):
        row = bytearray([0])  # PNG filter: none
        for px in range(size):
            acc = [0.0, 0.0, 0.0, 0.0]
            for sy in range(ss):
                for sx in range(ss):
                    u = (px + (sx + 0.5) / ss + offset) * scale
                    v = (py + (sy + 0.5) / ss + offset) * scale
                    c = colour_at(u, v, rounded=not maskable)
                    if c is None and maskable:
                        c = PURPLE
                    if c is not None:
                        acc[0] += c[0]
                        acc[1] += c[1]
                        acc[2] += c[2]
                        acc[3] += 255
            n = ss * ss
            alpha = acc[3] / n
            if alpha == 0:
                row += bytes(4)
            else:
                row += bytes([round(acc[0] * 255 / acc[3]), round(acc[1] * 255 / acc[3]),
                              round(acc[2] * 255 / acc[3]), round(alpha)])
        rows.append(bytes(row))
    return png(size, size, b"".join(rows))


def png(width, height, raw):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # RGBA, 8 bits
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


if __name__ == "__main__":
    for name, size, maskable in [("icon-192.png", 192, False), ("icon-512.png", 512, False),
                                 ("icon-maskable-512.png", 512, True)]:
        with open(name, "wb") as f:
            f.write(draw(size, maskable))
