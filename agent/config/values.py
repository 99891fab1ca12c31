"""The values of the config file as people write them: durations ("2 hours", "90 min", "1h30m"),
times of day, weekly moments ("Mon 08:00"), time ranges, lists of days, and the CA bundle files
a path names. Errors are ValueErrors in the person's language; :mod:`agent.config.read` names
the key."""

from __future__ import annotations

import re
from datetime import time, timedelta
from pathlib import Path

from agent.i18n import _, current

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_DURATION = timedelta(days=30)


_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: the words a person writes for each unit ("2 hours", "90 min", "1 hr 30 mins")
_UNIT_WORDS = {
    "ms": ("msec", "msecs", "millisecond", "milliseconds"),
    "s": ("sec", "secs", "second", "seconds"),
    "m": ("min", "mins", "minute", "minutes"),
    "h": ("hr", "hrs", "hour", "hours"),
    "d": ("day", "days"),
    "w": ("wk", "wks", "week", "weeks"),
}
_UNIT_OF = {word: unit for unit, words in _UNIT_WORDS.items() for word in (unit, *words)}
_DURATION_PART = re.compile(
    r"(\d+(?:\.\d+)?)(" + "|".join(sorted(_UNIT_OF, key=len, reverse=True)) + ")"
)


def parse_duration(text: object) -> timedelta:
    """Parse "90s", "10m", "2h", "1d", combinations like "1h30m", and the words a person
    writes: "2 hours", "90 min", "1 hour and 30 minutes". Raises ValueError."""
    if not isinstance(text, str):
        said = _('{value!r} is not a duration; write it as a string like "10m"')
        raise ValueError(said.format(value=text))
    raw = re.sub(r"\band\b|,", "", text.strip().lower()).replace(" ", "")
    if raw.startswith("-"):
        raise ValueError(_("{value!r} is negative; a duration must be positive").format(value=text))
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(raw):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[_UNIT_OF[match.group(2)]]
        pos = match.end()
    if not raw or pos != len(raw):
        example = '"90s", "10m", "2 hours", "1h30m", "1d"'
        said = _("{value!r} is not a duration; use e.g. {examples}")
        raise ValueError(said.format(value=text, examples=example))
    try:
        return timedelta(seconds=total)
    except OverflowError:  # "999999999999999999999d": past what a timedelta holds
        raise ValueError(_("{value!r} is far too long").format(value=text)) from None


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def duration_in_words(text: str) -> str:
    """ "15m" -> "15 minutes", "1h" -> "1 hour" ("15 Minuten"): for the settings window's hints,
    in the person's language."""
    from babel.units import format_unit

    written = format_duration(parse_duration(text))
    number, unit = int(written[:-1]), written[-1]
    name = {"s": "second", "m": "minute", "h": "hour", "d": "day"}[unit]
    return format_unit(number, f"duration-{name}", length="long", locale=current().formats)


def parse_clock(text: str) -> time:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not match or int(match.group(1)) > 24 or int(match.group(2)) > 59:
        said = _('{value!r} is not a time of day; use HH:MM, e.g. "09:00"')
        raise ValueError(said.format(value=text))
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour == 24:
        if minute:
            raise ValueError(_("{value!r} is past midnight").format(value=text))
        return time.max
    return time(hour, minute)


def parse_weekly(text: str) -> tuple[int, time]:
    """``"Mon 08:00"`` as (weekday, time of day): when the weekly scorecard goes out."""
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    match = re.fullmatch(r"([A-Za-z]{3})[a-z]*\s+(\d{1,2}):(\d{2})", str(text).strip())
    day = match.group(1).lower() if match else ""
    if not match or day not in days or int(match.group(2)) > 23 or int(match.group(3)) > 59:
        said = _('{value!r} is not a day and a time; use e.g. "Mon 08:00"')
        raise ValueError(said.format(value=text))
    return days.index(day), time(int(match.group(2)), int(match.group(3)))


def parse_time_range(text: object) -> tuple[time, time]:
    """Parse "09:00-17:30" into two times. The end may be before the start (crosses midnight)."""
    if not isinstance(text, str) or "-" not in text:
        said = _('{value!r} is not a time range; use "HH:MM-HH:MM", e.g. "09:00-17:30"')
        raise ValueError(said.format(value=text))
    start, _sep, end = text.partition("-")
    return parse_clock(start), parse_clock(end)


def _day_run(part: str) -> set[int]:
    first, _sep, last = part.partition("-")
    try:
        a = WEEKDAYS.index(first[:3])
        b = WEEKDAYS.index(last[:3]) if last else a
    except ValueError:
        said = _("{value!r} is not a day; use Mon, Tue, Wed, Thu, Fri, Sat, Sun")
        raise ValueError(said.format(value=part)) from None
    return {(a + i) % 7 for i in range((b - a) % 7 + 1)}


def parse_days(text: object) -> frozenset[int]:
    """Parse "Mon-Fri", "Mon,Wed,Fri" or "Sun-Thu" into ISO weekday numbers 0..6 (Mon=0)."""
    if not isinstance(text, str) or not text.strip():
        said = _('{value!r} is not a list of days; use e.g. "Mon-Fri" or "Mon,Wed"')
        raise ValueError(said.format(value=text))
    days: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        days |= _day_run(part)
    return frozenset(days)


def is_pem_bundle(path: Path) -> bool:
    """Whether ``path`` holds a PEM certificate (looked for in its first 8 MiB)."""
    try:
        with path.open("rb") as f:
            return b"-----BEGIN CERTIFICATE-----" in f.read(8 << 20)
    except OSError:
        return False
