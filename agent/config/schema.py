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
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from agent.config.values import (
    duration_in_words,
    parse_duration,
)
from agent.i18n import N_, _
from agent.sources.base import Option

ROLES = ("assistant", "owner")
#: the priorities, and their names in the person's language (the config keeps the English value)
PRIORITY_NAMES = {
    "low": N_("low"),
    "normal": N_("normal"),
    "high": N_("high"),
    "urgent": N_("urgent"),
}
PRIORITIES = tuple(PRIORITY_NAMES)
#: how often a source is checked when it does not say: by the role of this computer
DEFAULT_INTERVAL = {"assistant": "2m", "owner": "15m"}
MIN_INTERVAL = "1s"

# --------------------------------------------------------------------------- checks


def one_of(choices: tuple[str, ...], what: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value in choices:
            return ""
        listed = _(" or ").join(f'"{c}"' for c in choices)
        said = _("{value!r} is not {what}; use {choices}")
        return said.format(value=value, what=_(what), choices=listed)

    return check


def between(low: float, high: float, advice: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        said = _("{value} is out of range; {advice}")
        return "" if low <= value <= high else said.format(value=value, advice=_(advice))

    return check


def _fraction(value: Any) -> str:
    said = _("{value} is out of range; use a fraction like 0.8")
    return "" if 0 < value < 1 else said.format(value=value)


def _env_name(value: Any) -> str:
    ok = not value or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value)
    return "" if ok else _("{value!r} is not an environment variable name").format(value=value)


def _proxy(value: Any) -> str:
    if "@" in value:  # user:password@ (not quoted: `config show` and this message would)
        return _(
            "must not contain a user name or password; use a proxy that needs none, or set "
            "HTTPS_PROXY in this computer's environment and leave proxy out"
        )
    if value and not re.match(r"^(https?|socks5h?)://", value):
        return _("{value!r} is not a proxy URL (http://, https:// or socks5://)").format(
            value=value
        )
    return ""


#: a URL query that carries a secret (``?api_key=…``): refused in a source's url, which the
#: config file keeps, and in a provisioning file
URL_SECRET_QUERY = re.compile(
    r"[?&](token|access_token|password|pass|secret|api_?key|apikey|key)=", re.IGNORECASE
)


def url_has_password(value: str) -> bool:
    """A ``user:password@`` after the scheme. Read as a URL is read, not by a pattern: a port
    with an address in the query (``https://desk:8443?assignee=me@example.com``, ``mailtos://
    smtp:587?from=bell@example.com``) was taken for one, and the config refused."""
    try:
        return urlsplit(value).password is not None
    except ValueError:  # not a URL at all: no password in it either
        return False


def _url(value: Any) -> str:
    if not value:
        return ""
    if not re.match(r"^[a-z][a-z0-9+.-]*://[^/\s]+", value, re.IGNORECASE):
        return _("{value!r} is not a URL; it must start with https:// (or http://)").format(
            value=value
        )
    if url_has_password(value):
        return _("must not contain a password; store it in the keyring instead")
    secret = URL_SECRET_QUERY.search(value)
    if secret:
        said = _("must not carry a token ({name}=…); store it in the keyring instead")
        return said.format(name=secret.group(1))
    return ""


def _colour(value: Any) -> str:
    ok = not value or re.fullmatch(r"#[0-9a-fA-F]{6}", value)
    said = _('{value!r} is not a colour; write it as "#rrggbb", e.g. "#e5533d"')
    return "" if ok else said.format(value=value)


#: the built-in sounds and "off" by their names in the person's language (Settings' chooser)
SOUND_NAMES = {
    "chime": N_("Chime"),
    "urgent": N_("Urgent tone"),
    "bell": N_("Bell"),
    "knock": N_("Knock"),
    "off": N_("Off (no sound)"),
}
#: the sounds Ticketbell brings (resources/<name>.wav)
BUILT_IN_SOUNDS = tuple(name for name in SOUND_NAMES if name != "off")
#: BUILT_IN_SOUNDS in words (a plain text, so that it can be translated)
SOUND_HELP = N_("chime, urgent, bell, knock (built in), off, or a .wav file")
#: ``[alerts] sound`` written empty: Settings' "a .wav file of your own" with no file chosen
#: (taken as the default, the chime would play where the person asked for their own sound)
NO_SOUND_FILE = N_("no .wav file chosen: choose one, or pick a built-in sound")


def _language(value: Any) -> str:
    from agent.i18n import available

    if not value or value in available():
        return ""
    said = _("{value!r} is not a language Ticketbell speaks; use one of {languages}")
    return said.format(value=value, languages=", ".join(available()))


# --------------------------------------------------------------------------- the declarations

GENERAL = (
    Option(
        "role",
        N_("I am the"),
        str,
        "assistant",
        N_('"assistant" (my categories) or "owner" (every category, alerts when one is overdue)'),
        one_of(ROLES, N_("a role")),
    ),
    Option("sources", N_("Helpdesks"), list, [], N_("one [[sources]] table per helpdesk")),
    Option("retention", N_("Keep answered tickets for"), timedelta, "7d", minimum="1h"),
    Option("start_at_login", N_("Start Ticketbell when I log in"), bool, False),
    Option("vip", N_("VIP customers"), list, [], N_("one [[vip]] table per customer or company")),
    Option(
        "language",
        N_("Language"),
        str,
        "",
        N_(
            'the language of windows, messages and escalations ("de", "fr", "pt_BR"); '
            "empty: the system's"
        ),
        _language,
    ),
)
SOURCE = (
    Option(
        "name", N_("Name"), str, None, N_("the keyring entry of its token is keyed by this name")
    ),
    Option(
        "kind", N_("Helpdesk"), str, None, N_("which helpdesk: `ticketbell sources` lists them")
    ),
    Option("url", N_("Address"), str, "", N_("the helpdesk's address"), _url),
    Option("user", N_("User"), str, "", N_("the account, where the helpdesk needs one")),
    Option(
        "secret_env",
        N_("Token variable"),
        str,
        "",
        N_("read the token from this environment variable instead of the keyring"),
        _env_name,
    ),
    Option(
        "interval",
        N_("Check every"),
        timedelta,
        None,
        N_("how often it is checked: 2m for assistants, 15m for owners"),  # DEFAULT_INTERVAL
        minimum=MIN_INTERVAL,
    ),
    Option("categories", N_("My categories"), list, [], N_("empty or absent: all")),
    Option("verify", N_("Check TLS"), bool, True, N_("false (warned), or a CA bundle file's path")),
    Option(
        "proxy", N_("Proxy"), str, "", N_("otherwise the system's proxy settings apply"), _proxy
    ),
    Option(
        "timeout",
        N_("Timeout"),
        float,
        30,
        N_("seconds one request may take"),
        between(1, 300, N_("use 1 to 300 seconds")),
    ),
    Option(
        "sound",
        N_("Sound"),
        str,
        "",
        N_("chime, urgent, bell, knock (built in), off, or a .wav file; empty: the [alerts] sound"),
    ),
    Option(
        "accent", N_("Colour"), str, "", N_('shown beside its tickets, e.g. "#e5533d"'), _colour
    ),
)
WINDOWS = (
    Option(
        "default",
        N_("Reply within"),
        timedelta,
        "2h",
        N_("how long a ticket may wait"),
        minimum="1m",
    ),
    Option(
        "rules", N_("Rules"), list, [], N_("other windows for some tickets; the most specific wins")
    ),
    Option(
        "use_helpdesk_due",
        N_("Use the helpdesk's own due time when a ticket has one"),
        bool,
        True,
        N_("prefer the helpdesk's own SLA deadline when it reports one"),
    ),
)
RULE = (
    Option("source", N_("Helpdesk"), str, "", N_("the source's name")),
    Option("category", N_("Category"), str, ""),
    Option("priority", N_("Priority"), str, "", " or ".join(PRIORITIES)),
    Option("window", N_("reply within"), timedelta, None, minimum="1m"),
)
BUSINESS_HOURS = (
    Option("timezone", N_("Time zone"), str, None, N_('e.g. "Europe/London"')),
    Option("days", N_("Days"), str, "Mon-Fri", N_('e.g. "Mon-Fri" or "Sun-Thu"')),
    Option("hours", N_("Hours"), str, "09:00-17:00", N_("To 00:00 means until midnight.")),
    Option(
        "holidays",
        N_("Public holidays of"),
        str,
        "",
        N_('a country code, or e.g. "US-CA", "DE-BY"'),
    ),
)
ALERTS = (
    Option(
        "sound",
        N_("Sound"),
        str,
        "chime",
        SOUND_HELP,
    ),
    Option(
        "volume", N_("Volume"), float, 0.8, N_("0.0 to 1.0"), between(0, 1, N_("use 0.0 to 1.0"))
    ),
    Option(
        "remind_every",
        N_("Remind every"),
        timedelta,
        "15m",
        N_('A reminder chime while tickets are still waiting ("off": none).'),
        minimum="1m",
    ),
    Option(
        "due_soon", N_("Due soon at"), float, 0.8, N_("the part of the window passed"), _fraction
    ),
    Option(
        "quiet_hours",
        N_("Quiet hours"),
        str,
        "",
        N_("No sound then; the badge and escalations go on."),
    ),
    Option(
        "forecast_lead",
        N_("Warn of a likely breach"),
        timedelta,
        "30m",
        N_("owners: this long before a ticket is expected to breach (after two weeks of history)"),
        minimum="1m",
    ),
    Option(
        "priority_sounds",
        N_("Sound per priority"),
        dict,
        {},
        N_('e.g. { urgent = "urgent", high = "bell" }; it wins over the helpdesk\'s sound'),
    ),
)
QUIET = (
    Option(
        "away_after",
        N_("Away after"),
        timedelta,
        "10m",
        N_("no input for this long (or the screen locked) counts as away"),
        minimum="1m",
    ),
    Option(
        "break_through",
        N_("Still ring for"),
        list,
        ["overdue", "escalated"],
        N_('while away or in do-not-disturb: alert kinds, "urgent" (priority) or "vip"'),
    ),
    Option(
        "max_interruptions",
        N_("At most this many notifications an hour"),
        int,
        12,
        N_("beyond it, new low and normal tickets are gathered; 0: no limit"),
        between(0, 1000, N_("use 0 to 1000")),
    ),
    Option("gather_every", N_("Gathered notification every"), timedelta, "5m", minimum="1m"),
    Option(
        "follow_desktop",
        N_("Follow the desktop's do-not-disturb and away"),
        bool,
        True,
        N_("false: ring whatever the desktop says"),
    ),
)
VIP = (
    Option(
        "email", N_("Customer email"), str, "", N_("the requester's address, e.g. ceo@acme.com")
    ),
    Option("domain", N_("Email domain"), str, "", N_("every requester at it, e.g. acme.com")),
    Option("organization", N_("Organisation"), str, "", N_("as the helpdesk names it")),
    Option(
        "window", N_("Reply within"), timedelta, None, N_("empty: the usual window"), minimum="1m"
    ),
    Option("sound", N_("Sound"), str, "urgent", SOUND_HELP),
    Option(
        "escalate",
        N_("Straight to the first escalation level"),
        bool,
        True,
        N_("tell the owner's first level as soon as the ticket arrives"),
    ),
)
ESCALATION = (
    Option("levels", N_("Levels"), list, [], N_('each { after = "30m", notify = [...] }')),
    Option(
        "repeat_every",
        N_("Repeat the last level every"),
        timedelta,
        None,
        N_("empty: tell once per level"),
        minimum="1m",
    ),
    Option(
        "sent_by",
        N_("Who sends"),
        str,
        "owner",
        N_(
            "Only that Ticketbell sends emails and chat messages, so the owner does not get one "
            "from every computer."
        ),
        one_of(("owner", "assistant"), N_("a role")),
    ),
    Option(
        "blind_after",
        N_("Tell when a source cannot be read for"),
        timedelta,
        "30m",
        minimum="1m",
    ),
    Option("give_up_after", N_("Stop retrying a message after"), timedelta, "1d", minimum="1m"),
    Option("digest_at", N_("Daily digest at"), str, "", N_("HH:MM; empty: no digest")),
    Option(
        "scorecard_at",
        N_("Weekly scorecard at"),
        str,
        "",
        N_('e.g. "Mon 08:00": the last seven days through the digest\'s channels; empty: none'),
    ),
    Option(
        "digest_to",
        N_("Send the digest to"),
        list,
        [],
        N_("Nobody listed: every email and chat channel of the levels."),
    ),
)
LEVEL = (
    Option("after", N_("When overdue by"), timedelta, "0m", N_("0m: at once")),
    Option("notify", N_("Tell"), list, None, N_("owner-desktop, mailto://…, a chat channel")),
    Option(
        "when",
        N_("When"),
        str,
        "overdue",
        N_(
            '"overdue" (by after), or "nobody_watching": at once when no team member follows '
            "the ticket's category ([team])"
        ),
        one_of(("overdue", "nobody_watching"), "a level's when"),
    ),
)


def _broker(value: Any) -> str:
    if not value:
        return ""
    if not re.match(r"^mqtts?://[^/\s:@]+(:\d+)?/?$", value):
        said = _("{value!r} is not a broker address; write mqtts://host:8883 (mqtt:// on loopback)")
        return said.format(value=value)
    host = re.sub(r"^mqtts?://|(:\d+)?/?$", "", value)
    if value.startswith("mqtt://") and host not in ("127.0.0.1", "localhost", "::1"):
        return _("must use TLS (mqtts://) for a broker that is not on this computer")
    return ""


def _topic_name(value: Any) -> str:
    ok = re.fullmatch(r"[A-Za-z0-9._-]{1,100}", value or "")
    said = _("{value!r} is not a team name; use letters, digits, . _ -")
    return "" if ok else said.format(value=value)


TEAM = (
    Option(
        "broker", N_("Broker"), str, "", N_("mqtts://host:8883; mqtt:// only on loopback"), _broker
    ),
    Option("name", N_("Team"), str, "", N_("the team's topic root on the broker"), _topic_name),
    Option("user", N_("Broker login"), str, "", N_('its password in the keyring as "team"')),
    Option("secret_env", N_("Password variable"), str, "", N_("or from this variable"), _env_name),
    Option("ca", N_("Broker CA"), str, "", N_("a CA bundle file for the broker's TLS")),
    Option("hub", N_("Hub"), bool, False, N_("this Ticketbell polls and publishes for the team")),
    Option("heartbeat", N_("Heartbeat"), timedelta, "15s", N_("the hub's heartbeat"), minimum="1s"),
    Option("claim_expiry", N_("A claim ends after"), timedelta, "2h", minimum="1m"),
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
        return _("every {duration}").format(duration=duration_in_words(DEFAULT_INTERVAL[role]))
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
