"""The person's language: translated texts, and times, durations and weekday names the way
their locale writes them.

Texts are gettext catalogues, one per language: ``agent/locale/<code>/LC_MESSAGES/ticketbell.po``
(adding a language is that one file). English is the source language: its texts are the
message ids and need no catalogue. The tray app (``ui/``) uses the same ``_`` and catalogues,
so there is one workflow for every string (README, Development); Qt's own standard dialogs use
Qt's ``qtbase_<code>.qm``, loaded by ``ui/app.py``.

``make translations`` compiles each .po to a .mo beside it (the bundle ships those); a .mo
that is missing or older than its .po is compiled in memory when first needed, so a clean
checkout speaks every language. Placeholders are named, ``{count}``, filled with
``str.format`` after translating:
``ngettext("{count} ticket", "{count} tickets", n).format(count=n)``.

The language follows the operating system (``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG``;
the user's UI language on Windows; ``AppleLanguages`` on macOS); the config's ``language`` key
overrides it (:func:`use`). :func:`speaking` switches it for one block: an escalation is
written in the owner's language. Logs, JSON output, event names and config keys stay English:
they never go through ``_``. A text that is both shown and logged (a source's error) is a
:class:`Text`: ``str()`` translates it, ``.english`` is for the log.
"""

from __future__ import annotations

import contextvars
import gettext
import io
import locale as _stdlib_locale
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from babel import Locale

DOMAIN = "ticketbell"
LOCALE_DIR = Path(__file__).with_name("locale")
SOURCE_LANGUAGE = "en"
#: where no language is chosen (the C locale): English texts, times as Ticketbell always
#: wrote them (24-hour)
NEUTRAL_FORMATS = "en_GB"


def available() -> tuple[str, ...]:
    """The languages Ticketbell speaks: English and one per catalogue."""
    shipped = sorted(p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return (SOURCE_LANGUAGE, *shipped)


@dataclass(frozen=True)
class Language:
    """What texts are written in (``code``: a catalogue's name, or "en") and the locale whose
    customs times and durations follow (``de_AT`` may read German texts with Austrian formats).

    ``formats`` is Babel's locale for ``tag`` (``fallback`` where Babel has no such locale),
    made when first used: Babel and its CLDR data are loaded by what writes a time or a
    duration, not by every start (the tray's icon shows without them)."""

    code: str
    tag: str
    fallback: str = NEUTRAL_FORMATS

    @cached_property
    def formats(self) -> Locale:
        return _formats(self.tag, self.fallback)


def _tag(text: str) -> str:
    """ "de_DE.UTF-8@euro" -> "de_DE", "pt-BR" -> "pt_BR"; "C" and "POSIX" -> ""."""
    tag = text.split(".")[0].split("@")[0].replace("-", "_").strip()
    return "" if tag in ("C", "POSIX") else tag


def _formats(tag: str, fallback: str) -> Locale:
    from babel import Locale, UnknownLocaleError

    try:
        return Locale.parse(tag) if tag else Locale.parse(fallback)
    except (ValueError, UnknownLocaleError):
        return Locale.parse(fallback)


def choose(tags: list[str]) -> Language:
    """The first of ``tags`` (most wanted first) that Ticketbell speaks; else English."""
    shipped = available()
    for raw in tags:
        tag = _tag(raw)
        if not tag:
            continue
        language = tag.split("_")[0].lower()
        match = next((c for c in shipped if c.lower() == tag.lower()), None)
        match = match or next((c for c in shipped if c.split("_")[0] == language), None)
        if match:
            return Language(match, tag, match)
    first = next((_tag(t) for t in tags if _tag(t)), "")
    english = first if first.split("_")[0].lower() == SOURCE_LANGUAGE else ""
    return Language(SOURCE_LANGUAGE, english, NEUTRAL_FORMATS)


def os_languages() -> list[str]:
    """The languages the person's system asks for, most wanted first."""
    wanted = [v for v in os.environ.get("LANGUAGE", "").split(":") if v]
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "")
        if value:
            wanted.append(value)
            break  # the first one set decides, as setlocale(3) reads them
    if sys.platform == "win32":
        wanted.extend(_windows_languages())
    elif sys.platform == "darwin":
        wanted.extend(_mac_languages())
    return wanted


def _windows_languages() -> list[str]:
    import ctypes

    lcid = ctypes.windll.kernel32.GetUserDefaultUILanguage()  # type: ignore[attr-defined]
    name = _stdlib_locale.windows_locale.get(int(lcid))
    return [name] if name else []


def _mac_languages() -> list[str]:
    """``defaults read -g AppleLanguages``: the order set in System Settings, Language."""
    import subprocess

    try:
        out = subprocess.run(
            ["defaults", "read", "-g", "AppleLanguages"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip(' \t",()') for line in out.splitlines() if line.strip(' \t",()')]


# --------------------------------------------------------------------------- the language in use

_chosen: Language | None = None
_block: contextvars.ContextVar[Language | None] = contextvars.ContextVar("language", default=None)


def use(language: str) -> Language:
    """Speak ``language`` ("de", "pt_BR") from now on; "" follows the operating system."""
    global _chosen
    _chosen = choose([language, *os_languages()] if language else os_languages())
    return _chosen


def current() -> Language:
    return _block.get() or _chosen or use("")


@contextmanager
def speaking(language: str) -> Iterator[None]:
    """Within this block (and this thread), texts and formats are ``language``'s ("" : the one
    in use)."""
    token = _block.set(choose([language]) if language else current())
    try:
        yield
    finally:
        _block.reset(token)


@cache
def _neutral_english() -> Language:
    return choose([])


@contextmanager
def in_english() -> Iterator[None]:
    """Within this block (and this thread), texts are English and times are written as the log
    always wrote them (24-hour): what the log and the JSON output say."""
    token = _block.set(_neutral_english())
    try:
        yield
    finally:
        _block.reset(token)


@cache
def catalogue(code: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``code`` (English: none, the ids are the texts)."""
    if code == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    po = LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"
    mo = po.with_suffix(".mo")
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with open(mo, "rb") as fh:
            return gettext.GNUTranslations(fh)
    return gettext.GNUTranslations(io.BytesIO(compile_po(po)))


def compile_po(po: Path) -> bytes:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with open(po, "rb") as fh:
        messages = read_po(fh)
    out = io.BytesIO()
    write_mo(out, messages)
    return out.getvalue()


def compile_all() -> list[Path]:
    """``make translations``: every .po compiled to the .mo beside it (the bundle's)."""
    written = []
    for code in available()[1:]:
        po = LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"
        po.with_suffix(".mo").write_bytes(compile_po(po))
        written.append(po.with_suffix(".mo"))
    return written


def _(message: str) -> str:
    """``message`` in the person's language (format its ``{placeholders}`` afterwards)."""
    return catalogue(current().code).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a text for the number ``n``, as the person's language counts."""
    return catalogue(current().code).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks a text for the catalogue where it is written; ``_`` translates it where shown."""
    return message


class Text:
    """A text for a person that is translated when shown, and stays English for the log.

    ``Text(N_("{host} refused the connection"), host=host)``: ``str()`` is the template in
    the language in use (:func:`current`, so the one of the place that shows it), its
    placeholders filled; :attr:`english` is the same text in English, for logs and JSON
    output. A parameter may itself be a :class:`Text`: it is shown in the same language.
    Immutable; equal when template and parameters are.
    """

    __slots__ = ("_params", "_template")
    _template: str
    _params: tuple[tuple[str, object], ...]

    def __init__(self, template: str, /, **params: object) -> None:
        object.__setattr__(self, "_template", template)
        object.__setattr__(self, "_params", tuple(sorted(params.items())))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Text is immutable; cannot set {name}")

    @property
    def template(self) -> str:
        """The English template (the catalogue's message id)."""
        return self._template

    def __str__(self) -> str:
        values = {k: str(v) if isinstance(v, Text) else v for k, v in self._params}
        return _(self._template).format(**values)

    @property
    def english(self) -> str:
        with in_english():
            return str(self)

    def __repr__(self) -> str:
        params = "".join(f", {k}={v!r}" for k, v in self._params)
        return f"Text({self._template!r}{params})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Text):
            return NotImplemented
        return (self._template, self._params) == (other._template, other._params)

    def __hash__(self) -> int:
        return hash((self._template, self._params))

    def __reduce__(self) -> tuple[object, tuple[str, tuple[tuple[str, object], ...]]]:
        return (_rebuilt, (self._template, self._params))

    def data(self) -> dict[str, object]:
        """The text as JSON can keep it (the alert ledger), to be written again later in
        another language: :func:`text_of`. A parameter that is neither a text, a number nor
        a :class:`Text` is kept as its English."""
        return {"text": self._template, "params": {k: _param_data(v) for k, v in self._params}}


def _param_data(value: object) -> object:
    if isinstance(value, Text):
        return value.data()
    if isinstance(value, Number):
        return {"number": value.value}
    if isinstance(value, str | int | float):
        return value
    with in_english():
        return str(value)


def text_of(data: object) -> Text | None:
    """The :class:`Text` that :meth:`Text.data` kept, or None when ``data`` is not one."""
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        return None
    params = data.get("params")
    values = {str(k): _param_of(v) for k, v in params.items()} if isinstance(params, dict) else {}
    return Text(data["text"], **values)


def _param_of(value: object) -> object:
    if isinstance(value, dict) and isinstance(value.get("number"), int | float):
        return Number(value["number"])
    return text_of(value) or value


def _rebuilt(template: str, params: tuple[tuple[str, object], ...]) -> Text:
    """A pickled :class:`Text` again (a copy for another process)."""
    return Text(template, **dict(params))


def english(text: str | Text) -> str:
    """``text`` as the log and JSON output write it: a :class:`Text` in English."""
    return text.english if isinstance(text, Text) else text


# --------------------------------------------------------------------------- local formats


def time_text(value: datetime, tz: tzinfo | None = None) -> str:
    """The clock time, 24-hour where that is the custom: "14:05", "2:05 PM"."""
    from babel.dates import format_time

    return format_time(value.astimezone(tz), "short", locale=current().formats)


def weekday_time(value: datetime, tz: tzinfo | None = None) -> str:
    """Weekday and clock time: "Mo., 14:05", "lun. 14:05", "Mon 2:05 PM"."""
    from babel.dates import format_skeleton

    formats = current().formats
    hours = "H" if "H" in formats.time_formats["short"].pattern else "h"
    return format_skeleton(f"E{hours}m", value.astimezone(tz), locale=formats)


def day_month(value: date) -> str:
    """Day and month as the locale writes them: "16.11.", "16/11", "11/16"."""
    from babel.dates import format_skeleton

    return format_skeleton("dM", value, locale=current().formats)


def weekday_date(value: date) -> str:
    """Weekday, day, month and year: "Mon 23 Nov 2026" in English (as Ticketbell always wrote
    it), "Mo., 23. Nov. 2026", "pon., 23 lis 2026" as CLDR writes them."""
    if current().code == SOURCE_LANGUAGE:
        return value.strftime("%a %d %b %Y")
    from babel.dates import format_skeleton

    return format_skeleton("yMMMEd", value, locale=current().formats)


def duration(span: timedelta) -> str:
    """A duration in whole minutes, at most two units: "25 min", "2 h 05 min", "1 d 3 h" in
    English (Ticketbell's own short form), "2 Std., 5 Min." or "2 h 5 min" as CLDR writes them."""
    minutes = max(0, int(span.total_seconds() // 60))
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if current().code == SOURCE_LANGUAGE:
        if days:
            return f"{days} d {hours} h" if hours else f"{days} d"
        return f"{hours} h {mins:02d} min" if hours else f"{mins} min"
    from babel.units import format_unit

    parts = [(days, "duration-day"), (hours, "duration-hour"), (mins, "duration-minute")]
    first = next((i for i, (n, _unit) in enumerate(parts) if n), 2)
    shown = [(n, unit) for n, unit in parts[first : first + 2] if n] or [(0, "duration-minute")]
    words = [format_unit(n, unit, length="short", locale=current().formats) for n, unit in shown]
    return " ".join(words)


def number(value: float) -> str:
    """A number as the person's locale writes it: "1,234", "1.234", "1\u202f234"."""
    from babel.numbers import format_decimal

    return format_decimal(value, locale=current().formats)


@dataclass(frozen=True)
class Number:
    """A number in a :class:`Text`, written as the locale of the place that shows it:
    ``Text(N_("{size} bytes"), size=Number(1234))`` is "1.234 bytes" in German, "1,234" in
    its English copy."""

    value: float

    def __str__(self) -> str:
        return number(self.value)


@dataclass(frozen=True)
class TimeOfDay:
    """A clock time in a :class:`Text`, written as the locale of the place that shows it
    ("14:05", "2:05 PM"; 24-hour in the English copy)."""

    at: datetime
    tz: tzinfo | None = None

    def __str__(self) -> str:
        return time_text(self.at, self.tz)


def relative(span: timedelta) -> str:
    """A time from now: "in 5 Min.", "vor 5 Min.", "dans 5 min"."""
    from babel.dates import format_timedelta

    return format_timedelta(
        span, granularity="minute", add_direction=True, format="short", locale=current().formats
    )


def weekday_names() -> list[str]:
    """Monday to Sunday, abbreviated as the locale does ("Mo.", "lun.")."""
    from babel.dates import get_day_names

    names = get_day_names("abbreviated", locale=current().formats)
    return [names[i] for i in range(7)]


if __name__ == "__main__":  # `python -m agent.i18n` is `make translations`
    for path in compile_all():
        print(f"compiled {path.relative_to(LOCALE_DIR.parent.parent)}")
