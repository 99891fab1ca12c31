#!/usr/bin/env python3
"""Make Ticketbell's sounds (resources/chime.wav, urgent.wav, bell.wav, knock.wav) with the
stdlib only.

    python scripts/make-sounds.py        # rewrites the WAVs; they are committed

chime:  a soft two-tone bell (A5 then E6), each tone with a few bell-like partials and an
        exponential decay: pleasant enough to hear fifty times a day.
urgent: three quick, brighter double beeps (B5/E6) with a harder attack: clearly not the chime.
bell:   one struck bell (E5) with inharmonic partials and a long decay: a helpdesk's own sound.
knock:  two soft, low knocks: another helpdesk's, or a priority's.
"""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

RATE = 44100
OUT = Path(__file__).resolve().parent.parent / "resources"


def tone(freq: float, start: float, length: float, decay: float, partials, attack: float):
    """(sample offset, samples) of one struck tone."""
    n = int(length * RATE)
    out = []
    for i in range(n):
        t = i / RATE
        env = min(1.0, t / attack) * math.exp(-t / decay)
        value = sum(a * math.sin(2 * math.pi * freq * m * t) for m, a in partials)
        out.append(env * value)
    return int(start * RATE), out


def mix(parts, seconds: float, peak: float) -> list[int]:
    buf = [0.0] * int(seconds * RATE)
    for offset, samples in parts:
        for i, v in enumerate(samples):
            if offset + i < len(buf):
                buf[offset + i] += v
    top = max(abs(v) for v in buf) or 1.0
    fade = int(0.02 * RATE)  # no click at the end
    for i in range(fade):
        buf[-1 - i] *= i / fade
    return [round(v / top * peak * 32767) for v in buf]


def write(name: str, samples: list[int]) -> None:
    with wave.open(str(OUT / name), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    print(f"{OUT / name}: {len(samples) / RATE:.2f} s")


def main() -> None:
    bell = ((1, 1.0), (2.0, 0.35), (3.0, 0.12), (4.2, 0.05))
    chime = mix(
        [
            tone(880.0, 0.0, 1.2, 0.35, bell, 0.004),
            tone(1318.5, 0.22, 1.2, 0.45, bell, 0.004),
        ],
        1.5,
        0.7,
    )
    write("chime.wav", chime)
    beep = ((1, 1.0), (3, 0.3), (5, 0.12))
    parts = []
    for k in range(3):
        t0 = k * 0.32
        parts.append(tone(987.8, t0, 0.13, 0.2, beep, 0.002))
        parts.append(tone(1318.5, t0 + 0.14, 0.14, 0.2, beep, 0.002))
    write("urgent.wav", mix(parts, 1.0, 0.75))
    struck = ((1, 1.0), (2.76, 0.4), (5.4, 0.15))
    write("bell.wav", mix([tone(659.3, 0.0, 1.2, 0.3, struck, 0.004)], 1.2, 0.7))
    thump = ((1, 1.0), (2.3, 0.3))
    knock = [tone(180.0, t0, 0.09, 0.025, thump, 0.002) for t0 in (0.0, 0.16)]
    write("knock.wav", mix(knock, 0.45, 0.7))


if __name__ == "__main__":
    main()
