"""Every key of the config file, declared once, and the parsers of its values.

Config loading (``agent.config.read``) takes each key's type, default, least value and check from
here; ``config validate`` and ``config show`` go through that loading; the settings window
takes its labels, hints and "empty: …" texts from here; the README's option lists are
:func:`markdown` (a test compares them). A source kind's own keys are declared on its class
(``required``/``optional``); the keys every source has are :data:`SOURCE`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import time, timedelta
from typing import Any

from agent.sources.base import Option

ROLES = ("assistant", "owner")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PRIORITIES = ("low", "normal", "high", "urgent")
#: how often a source is checked when it does not say: by the role of this computer
DEFAULT_INTERVAL = {"assistant": "2m", "owner": "15m"}
MIN_INTERVAL = "1s"
MAX_DURATION = timedelta(days=30)

# --------------------------------------------------------------------------- value parsers

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
        raise ValueError(f'{text!r} is not a duration; write it as a string like "10m"')
    raw = re.sub(r"\band\b|,", "", text.strip().lower()).replace(" ", "")
    if raw.startswith("-"):
        raise ValueError(f"{text!r} is negative; a duration must be positive")
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(raw):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[_UNIT_OF[match.group(2)]]
        pos = match.end()
    if not raw or pos != len(raw):
        raise ValueError(
            f'{text!r} is not a duration; use e.g. "90s", "10m", "2 hours", "1h30m", "1d"'
        )
    try:
        return timedelta(seconds=total)
    except OverflowError:  # "999999999999999999999d": past what a timedelta holds
        raise ValueError(f"{text!r} is far too long") from None


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def duration_in_words(text: str) -> str:
    """ "15m" -> "15 minutes", "1h" -> "1 hour": for the settings window's hints."""
    written = format_duration(parse_duration(text))
    number, unit = int(written[:-1]), written[-1]
    name = {"s": "second", "m": "minute", "h": "hour", "d": "day"}[unit]
    return f"{number} {name}{'' if number == 1 else 's'}"


def parse_clock(text: str) -> time:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not match or int(match.group(1)) > 24 or int(match.group(2)) > 59:
        raise ValueError(f'{text!r} is not a time of day; use HH:MM, e.g. "09:00"')
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour == 24:
        if minute:
            raise ValueError(f"{text!r} is past midnight")
        return time.max
    return time(hour, minute)


def parse_weekly(text: str) -> tuple[int, time]:
    """``"Mon 08:00"`` as (weekday, time of day): when the weekly scorecard goes out."""
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    match = re.fullmatch(r"([A-Za-z]{3})[a-z]*\s+(\d{1,2}):(\d{2})", str(text).strip())
    day = match.group(1).lower() if match else ""
    if not match or day not in days or int(match.group(2)) > 23 or int(match.group(3)) > 59:
        raise ValueError(f'{text!r} is not a day and a time; use e.g. "Mon 08:00"')
    return days.index(day), time(int(match.group(2)), int(match.group(3)))


def parse_time_range(text: object) -> tuple[time, time]:
    """Parse "09:00-17:30" into two times. The end may be before the start (crosses midnight)."""
    if not isinstance(text, str) or "-" not in text:
        raise ValueError(f'{text!r} is not a time range; use "HH:MM-HH:MM", e.g. "09:00-17:30"')
    start, _, end = text.partition("-")
    return parse_clock(start), parse_clock(end)


def _day_run(part: str) -> set[int]:
    first, _, last = part.partition("-")
    try:
        a = WEEKDAYS.index(first[:3])
        b = WEEKDAYS.index(last[:3]) if last else a
    except ValueError:
        raise ValueError(f"{part!r} is not a day; use Mon, Tue, Wed, Thu, Fri, Sat, Sun") from None
    return {(a + i) % 7 for i in range((b - a) % 7 + 1)}


def parse_days(text: object) -> frozenset[int]:
    """Parse "Mon-Fri", "Mon,Wed,Fri" or "Sun-Thu" into ISO weekday numbers 0..6 (Mon=0)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f'{text!r} is not a list of days; use e.g. "Mon-Fri" or "Mon,Wed"')
    days: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        days |= _day_run(part)
    return frozenset(days)


# --------------------------------------------------------------------------- checks


def one_of(choices: tuple[str, ...], what: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value in choices:
            return ""
        listed = " or ".join(f'"{c}"' for c in choices)
        return f"{value!r} is not {what}; use {listed}"

    return check


def between(low: float, high: float, advice: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        return "" if low <= value <= high else f"{value} is out of range; {advice}"

    return check


def _fraction(value: Any) -> str:
    return "" if 0 < value < 1 else f"{value} is out of range; use a fraction like 0.8"


def _env_name(value: Any) -> str:
    ok = not value or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value)
    return "" if ok else f"{value!r} is not an environment variable name"


def _proxy(value: Any) -> str:
    if "@" in value:  # user:password@ (not quoted: `config show` and this message would)
        return (
            "must not contain a user name or password; use a proxy that needs none, or set "
            "HTTPS_PROXY in this computer's environment and leave proxy out"
        )
    if value and not re.match(r"^(https?|socks5h?)://", value):
        return f"{value!r} is not a proxy URL (http://, https:// or socks5://)"
    return ""


def _url(value: Any) -> str:
    if not value:
        return ""
    if not re.match(r"^[a-z][a-z0-9+.-]*://[^/\s]+", value, re.IGNORECASE):
        return f"{value!r} is not a URL; it must start with https:// (or http://)"
    if re.match(r"^[a-z][a-z0-9+.-]*://[^/@\s]*:[^/@\s]*@", value, re.IGNORECASE):
        return "must not contain a password; store it in the keyring instead"
    return ""


def _colour(value: Any) -> str:
    ok = not value or re.fullmatch(r"#[0-9a-fA-F]{6}", value)
    return "" if ok else f'{value!r} is not a colour; write it as "#rrggbb", e.g. "#e5533d"'


#: the sounds Ticketbell brings (resources/<name>.wav)
BUILT_IN_SOUNDS = ("chime", "urgent", "bell", "knock")
SOUND_HELP = f"{', '.join(BUILT_IN_SOUNDS)} (built in), off, or a .wav file"


def _language(value: Any) -> str:
    from agent.i18n import available

    if not value or value in available():
        return ""
    return f"{value!r} is not a language Ticketbell speaks; use one of {', '.join(available())}"


# --------------------------------------------------------------------------- the declarations

GENERAL = (
    Option(
        "role",
        "I am the",
        str,
        "assistant",
        '"assistant" (my categories) or "owner" (every category, alerts when one is overdue)',
        one_of(ROLES, "a role"),
    ),
    Option("sources", "Helpdesks", list, [], "one [[sources]] table per helpdesk"),
    Option("retention", "Keep answered tickets for", timedelta, "7d", minimum="1h"),
    Option("start_at_login", "Start Ticketbell when I log in", bool, False),
    Option("vip", "VIP customers", list, [], "one [[vip]] table per customer or company"),
    Option(
        "language",
        "Language",
        str,
        "",
        'the language of windows, messages and escalations ("de", "fr", "pt_BR"); '
        "empty: the system's",
        _language,
    ),
)
SOURCE = (
    Option("name", "Name", str, None, "the keyring entry of its token is keyed by this name"),
    Option("kind", "Helpdesk", str, None, "which helpdesk: `ticketbell sources` lists them"),
    Option("url", "Address", str, "", "the helpdesk's address", _url),
    Option("user", "User", str, "", "the account, where the helpdesk needs one"),
    Option(
        "secret_env",
        "Token variable",
        str,
        "",
        "read the token from this environment variable instead of the keyring",
        _env_name,
    ),
    Option(
        "interval",
        "Check every",
        timedelta,
        None,
        f"how often it is checked: {DEFAULT_INTERVAL['assistant']} for assistants, "
        f"{DEFAULT_INTERVAL['owner']} for owners",
        minimum=MIN_INTERVAL,
    ),
    Option("categories", "My categories", list, [], "empty or absent: all"),
    Option("verify", "Check TLS", bool, True, "false (warned), or a CA bundle file's path"),
    Option("proxy", "Proxy", str, "", "otherwise the system's proxy settings apply", _proxy),
    Option(
        "timeout",
        "Timeout",
        float,
        30,
        "seconds one request may take",
        between(1, 300, "use 1 to 300 seconds"),
    ),
    Option("sound", "Sound", str, "", f"{SOUND_HELP}; empty: the [alerts] sound"),
    Option("accent", "Colour", str, "", 'shown beside its tickets, e.g. "#e5533d"', _colour),
)
WINDOWS = (
    Option("default", "Reply within", timedelta, "2h", "how long a ticket may wait", minimum="1m"),
    Option("rules", "Rules", list, [], "other windows for some tickets; the most specific wins"),
    Option(
        "use_helpdesk_due",
        "Use the helpdesk's own due time when a ticket has one",
        bool,
        True,
        "prefer the helpdesk's own SLA deadline when it reports one",
    ),
)
RULE = (
    Option("source", "Helpdesk", str, "", "the source's name"),
    Option("category", "Category", str, ""),
    Option("priority", "Priority", str, "", " or ".join(PRIORITIES)),
    Option("window", "reply within", timedelta, None, minimum="1m"),
)
BUSINESS_HOURS = (
    Option("timezone", "Time zone", str, None, 'e.g. "Europe/London"'),
    Option("days", "Days", str, "Mon-Fri", 'e.g. "Mon-Fri" or "Sun-Thu"'),
    Option("hours", "Hours", str, "09:00-17:00", "To 00:00 means until midnight."),
    Option("holidays", "Public holidays of", str, "", 'a country code, or e.g. "US-CA", "DE-BY"'),
)
ALERTS = (
    Option("sound", "Sound", str, "chime", '"chime" (built in), "off", or a .wav file of your own'),
    Option("volume", "Volume", float, 0.8, "0.0 to 1.0", between(0, 1, "use 0.0 to 1.0")),
    Option(
        "remind_every",
        "Remind every",
        timedelta,
        "15m",
        'A reminder chime while tickets are still waiting ("off": none).',
        minimum="1m",
    ),
    Option("due_soon", "Due soon at", float, 0.8, "the part of the window passed", _fraction),
    Option(
        "quiet_hours",
        "Quiet hours",
        str,
        "",
        "No sound then; the badge and escalations go on.",
    ),
    Option(
        "forecast_lead",
        "Warn of a likely breach",
        timedelta,
        "30m",
        "owners: this long before a ticket is expected to breach (after two weeks of history)",
        minimum="1m",
    ),
    Option(
        "priority_sounds",
        "Sound per priority",
        dict,
        {},
        'e.g. { urgent = "urgent", high = "bell" }; it wins over the helpdesk\'s sound',
    ),
)
QUIET = (
    Option(
        "away_after",
        "Away after",
        timedelta,
        "10m",
        "no input for this long (or the screen locked) counts as away",
        minimum="1m",
    ),
    Option(
        "break_through",
        "Still ring for",
        list,
        ["overdue", "escalated"],
        'while away or in do-not-disturb: alert kinds, "urgent" (priority) or "vip"',
    ),
    Option(
        "max_interruptions",
        "At most this many notifications an hour",
        int,
        12,
        "beyond it, new low and normal tickets are gathered; 0: no limit",
        between(0, 1000, "use 0 to 1000"),
    ),
    Option("gather_every", "Gathered notification every", timedelta, "5m", minimum="1m"),
    Option(
        "follow_desktop",
        "Follow the desktop's do-not-disturb and away",
        bool,
        True,
        "false: ring whatever the desktop says",
    ),
)
VIP = (
    Option("email", "Customer email", str, "", "the requester's address, e.g. ceo@acme.com"),
    Option("domain", "Email domain", str, "", "every requester at it, e.g. acme.com"),
    Option("organization", "Organisation", str, "", "as the helpdesk names it"),
    Option("window", "Reply within", timedelta, None, "empty: the usual window", minimum="1m"),
    Option("sound", "Sound", str, "urgent", SOUND_HELP),
    Option(
        "escalate",
        "Straight to the first escalation level",
        bool,
        True,
        "tell the owner's first level as soon as the ticket arrives",
    ),
)
ESCALATION = (
    Option("levels", "Levels", list, [], 'each { after = "30m", notify = [...] }'),
    Option(
        "repeat_every",
        "Repeat the last level every",
        timedelta,
        None,
        "empty: tell once per level",
        minimum="1m",
    ),
    Option(
        "sent_by",
        "Who sends",
        str,
        "owner",
        "Only that Ticketbell sends emails and chat messages, so the owner does not get one "
        "from every computer.",
        one_of(("owner", "assistant"), "a role"),
    ),
    Option(
        "blind_after",
        "Tell when a source cannot be read for",
        timedelta,
        "30m",
        minimum="1m",
    ),
    Option("give_up_after", "Stop retrying a message after", timedelta, "1d", minimum="1m"),
    Option("digest_at", "Daily digest at", str, "", "HH:MM; empty: no digest"),
    Option(
        "scorecard_at",
        "Weekly scorecard at",
        str,
        "",
        'e.g. "Mon 08:00": the last seven days through the digest\'s channels; empty: none',
    ),
    Option(
        "digest_to",
        "Send the digest to",
        list,
        [],
        "Nobody listed: every email and chat channel of the levels.",
    ),
)
LEVEL = (
    Option("after", "When overdue by", timedelta, "0m", "0m: at once"),
    Option("notify", "Tell", list, None, "owner-desktop, mailto://…, a chat channel"),
    Option(
        "when",
        "When",
        str,
        "overdue",
        '"overdue" (by after), or "nobody_watching": at once when no team member follows the '
        "ticket's category ([team])",
        one_of(("overdue", "nobody_watching"), "a level's when"),
    ),
)


def _broker(value: Any) -> str:
    if not value:
        return ""
    if not re.match(r"^mqtts?://[^/\s:@]+(:\d+)?/?$", value):
        return f"{value!r} is not a broker address; write mqtts://host:8883 (mqtt:// on loopback)"
    host = re.sub(r"^mqtts?://|(:\d+)?/?$", "", value)
    if value.startswith("mqtt://") and host not in ("127.0.0.1", "localhost", "::1"):
        return "must use TLS (mqtts://) for a broker that is not on this computer"
    return ""


def _topic_name(value: Any) -> str:
    ok = re.fullmatch(r"[A-Za-z0-9._-]{1,100}", value or "")
    return "" if ok else f"{value!r} is not a team name; use letters, digits, . _ -"


TEAM = (
    Option("broker", "Broker", str, "", "mqtts://host:8883; mqtt:// only on loopback", _broker),
    Option("name", "Team", str, "", "the team's topic root on the broker", _topic_name),
    Option("user", "Broker login", str, "", 'its password in the keyring as "team"'),
    Option("secret_env", "Password variable", str, "", "or from this variable", _env_name),
    Option("ca", "Broker CA", str, "", "a CA bundle file for the broker's TLS"),
    Option("hub", "Hub", bool, False, "this Ticketbell polls and publishes for the team"),
    Option("heartbeat", "Heartbeat", timedelta, "15s", "the hub's heartbeat", minimum="1s"),
    Option("claim_expiry", "A claim ends after", timedelta, "2h", minimum="1m"),
)
#: the config file's tables and their keys ("": the top level)
TABLES: dict[str, tuple[Option, ...]] = {
    "": GENERAL,
    "windows": WINDOWS,
    "business_hours": BUSINESS_HOURS,
    "alerts": ALERTS,
    "escalation": ESCALATION,
    "quiet": QUIET,
    "team": TEAM,
}


def declared(table: str, key: str) -> Option:
    """The declaration of ``key`` in ``table`` ("alerts", "sources", "windows.rules", …)."""
    options = {"sources": SOURCE, "windows.rules": RULE, "escalation.levels": LEVEL, "vip": VIP}
    for opt in options.get(table) or TABLES[table]:
        if opt.key == key:
            return opt
    raise KeyError(f"{table}.{key}")


def keys(options: tuple[Option, ...]) -> set[str]:
    return {opt.key for opt in options}


def default(table: str, key: str) -> Any:
    """A key's default as the program uses it (a duration as a timedelta)."""
    opt = declared(table, key)
    if opt.type is timedelta and opt.default is not None:
        return parse_duration(opt.default)
    return opt.default


def defaults() -> dict[str, Any]:
    """Every table's defaults by dotted key ("alerts.sound"), as the program uses them."""
    tables = {**TABLES, "sources": SOURCE}
    return {
        f"{table}.{opt.key}" if table else opt.key: default(table, opt.key)
        for table, options in tables.items()
        for opt in options
    }


def empty_means(table: str, key: str, role: str = "assistant") -> str:
    """What leaving a field empty means, in words for the settings window."""
    if (table, key) == ("sources", "interval"):
        return f"every {duration_in_words(DEFAULT_INTERVAL[role])}"
    opt = declared(table, key)
    if opt.type is timedelta and opt.default:
        return duration_in_words(str(opt.default))
    return str(opt.default)


# --------------------------------------------------------------------------- the README


def _shown(opt: Option) -> str:
    if opt.default in (None, "", [], {}):
        return ""
    if isinstance(opt.default, bool):
        return f"`{str(opt.default).lower()}`"
    return f'`"{opt.default}"`' if isinstance(opt.default, str) else f"`{opt.default}`"


def _table(title: str, options: tuple[Option, ...], required: tuple[Option, ...] = ()) -> list[str]:
    lines = [f"**{title}**", "", "| key | default | in Settings | meaning |", "|---|---|---|---|"]
    for opt in options:
        label = opt.label + (" (required)" if opt in required else "")
        cells = (f"`{opt.key}`", _shown(opt), label, opt.help)
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return [*lines, ""]


def markdown() -> str:
    """The README's option lists: the config file's keys, then each source kind's own."""
    from agent.sources import KINDS, source_class

    lines = _table("Top level", GENERAL)
    for name, options in TABLES.items():
        if name:
            lines += _table(f"[{name}]", options)
    lines += _table("[[vip]]", VIP)
    lines += _table("[[sources]], every kind", SOURCE)
    for kind in KINDS:
        cls = source_class(kind)
        if cls.required + cls.optional:
            title = f'[[sources]] with kind = "{kind}"'
            lines += _table(title, cls.required + cls.optional, cls.required)
    return "\n".join(lines).rstrip() + "\n"
