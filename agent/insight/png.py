"""Bar charts as PNG images, in pure Python (zlib and struct): the scorecard e-mail's charts.

The agent never imports Qt and carries no imaging library, and a mail client shows an inline
PNG where it shows no script or SVG. The charts are simple: a title, bars with their values,
labels under them, drawn with a 3 × 5 pixel font scaled up (capitals, digits, a few signs).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

Color = tuple[int, int, int]
WHITE: Color = (255, 255, 255)
INK: Color = (40, 40, 40)
GRID: Color = (220, 220, 220)
BARS: tuple[Color, ...] = ((66, 133, 244), (211, 47, 47), (120, 120, 120))

# Each glyph: five rows of three pixels, a row as one octal digit (4 = left pixel).
FONT = {
    "0": "75557", "1": "26227", "2": "71747", "3": "71717", "4": "55711", "5": "74717",
    "6": "74757", "7": "71111", "8": "75757", "9": "75717", "A": "25755", "B": "65656",
    "C": "34443", "D": "65556", "E": "74647", "F": "74644", "G": "34553", "H": "55755",
    "I": "72227", "J": "11152", "K": "55655", "L": "44447", "M": "57755", "N": "65555",
    "O": "25552", "P": "65644", "Q": "25563", "R": "65655", "S": "34216", "T": "72222",
    "U": "55557", "V": "55552", "W": "55775", "X": "55255", "Y": "55222", "Z": "71247",
    " ": "00000", "%": "51245", "-": "00700", ".": "00002", ":": "02020", "/": "11244",
    "(": "24442", ")": "42224", "#": "57575", "_": "00007", "'": "22000", ",": "00024",
    "+": "02720", "?": "71202", "=": "07070", "<": "12421", ">": "42124", "&": "25357",
}  # fmt: skip


class Canvas:
    """An RGB image in memory that can be saved as PNG."""

    def __init__(self, width: int, height: int, background: Color = WHITE) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(background) * width * height)

    def rect(self, x: int, y: int, w: int, h: int, color: Color) -> None:
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(self.width, x + w), min(self.height, y + h)
        if x1 <= x0 or y1 <= y0:
            return
        row = bytes(color) * (x1 - x0)
        for yy in range(y0, y1):
            start = (yy * self.width + x0) * 3
            self.pixels[start : start + len(row)] = row

    def text(self, x: int, y: int, words: str, scale: int = 2, color: Color = INK) -> None:
        for ch in plain(words):
            glyph = FONT.get(ch, FONT["?"])
            for row, bits in enumerate(glyph):
                for col in range(3):
                    if int(bits, 8) & (4 >> col):
                        self.rect(x + col * scale, y + row * scale, scale, scale, color)
            x += 4 * scale

    def png(self) -> bytes:
        raw = b"".join(
            b"\x00" + bytes(self.pixels[y * self.width * 3 : (y + 1) * self.width * 3])
            for y in range(self.height)
        )
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return b"\x89PNG\r\n\x1a\n" + b"".join(
            _chunk(kind, data)
            for kind, data in ((b"IHDR", header), (b"IDAT", zlib.compress(raw, 9)), (b"IEND", b""))
        )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def plain(words: str) -> str:
    """``words`` in the font's letters: capitals without their accents ("Śr." -> "SR.",
    "Über" -> "UBER"), as the translated titles and weekday names need."""
    import unicodedata

    upper = unicodedata.normalize("NFKD", words.upper().translate(_NO_DECOMPOSITION))
    return "".join(ch for ch in upper if not unicodedata.combining(ch))


#: capitals that keep their stroke when decomposed (NFKD): drawn as the letter underneath
_NO_DECOMPOSITION = str.maketrans({"Ł": "L", "ł": "L", "Ø": "O", "ø": "O", "Đ": "D", "đ": "D"})


def text_width(words: str, scale: int = 2) -> int:
    return len(plain(words)) * 4 * scale


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    width: int = 560,
    height: int = 260,
    unit: str = "",
    full: float | None = None,
) -> bytes:
    """A bar chart as PNG: one group of bars per label, one bar per series (name, values);
    ``full``: the value of a full bar (else the highest value)."""
    canvas = Canvas(width, height)
    canvas.text(10, 8, title, 2)
    legend_x = 10
    for n, (name, _) in enumerate(series if len(series) > 1 else ()):
        canvas.rect(legend_x, 28, 10, 10, BARS[n % len(BARS)])
        canvas.text(legend_x + 14, 29, name, 2)
        legend_x += 14 + text_width(name) + 16
    top, bottom, left = 48, height - 28, 10
    canvas.rect(left, bottom, width - 2 * left, 1, GRID)
    highest = full or max((v for _, values in series for v in values), default=0.0) or 1.0
    slot = (width - 2 * left) / max(1, len(labels))
    bar = max(2, int(slot * 0.8 / max(1, len(series))))
    for i, label in enumerate(labels):
        x0 = int(left + i * slot + slot * 0.1)
        for n, (_, values) in enumerate(series):
            value = values[i] if i < len(values) else 0.0
            h = int((bottom - top - 14) * value / highest)
            x = x0 + n * bar
            canvas.rect(x, bottom - h, bar - 1, h, BARS[n % len(BARS)])
            number = f"{value:g}{unit}"
            size = 2 if text_width(number, 2) <= bar else 1
            canvas.text(
                x + (bar - text_width(number, size)) // 2, bottom - h - 6 * size, number, size
            )
        short = label[: max(1, int(slot // 8))]
        canvas.text(int(left + i * slot + (slot - text_width(short)) / 2), bottom + 8, short, 2)
    return canvas.png()
