"""The TOML configuration: where it lives, what it may say, and clear errors when it is wrong.

Every validation error names the file and the key and says what is allowed, in one line:

    ticketbell.toml: sources[1].interval: "5x" is not a duration; use e.g. "90s", "10m", "2h"

Secrets never live here: a source's token is in the OS keyring under the source's name, or in the
environment variable its ``secret_env`` names (see ``agent.secrets``).
"""

from __future__ import annotations

import itertools
import re
import sys
from dataclasses import dataclass, field, replace
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import platformdirs

from agent.model import INVISIBLE

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

APP_NAME = "ticketbell"
ROLES = ("assistant", "owner")
DEFAULT_INTERVAL = {"assistant": timedelta(minutes=2), "owner": timedelta(minutes=15)}
MIN_INTERVAL = timedelta(seconds=1)
MAX_DURATION = timedelta(days=30)
COMMON_SOURCE_KEYS = (
    "name",
    "kind",
    "url",
    "user",
    "secret_env",
    "interval",
    "categories",
    "verify",
    "proxy",
    "timeout",
)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ConfigError(ValueError):
    """A configuration problem, located: ``file: key: what is wrong and what is allowed``."""

    def __init__(self, file: str | Path | None, key: str, message: str) -> None:
        self.file = str(file) if file else "<config>"
        self.key = key
        self.message = message
        super().__init__(f"{self.file}: {key}: {message}" if key else f"{self.file}: {message}")


# --------------------------------------------------------------------------- durations

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: object) -> timedelta:
    """Parse "90s", "10m", "2h", "1d", or combinations like "1h30m". Raises ValueError."""
    if not isinstance(text, str):
        raise ValueError(f'{text!r} is not a duration; write it as a string like "10m"')
    raw = text.strip().lower().replace(" ", "")
    if raw.startswith("-"):
        raise ValueError(f"{text!r} is negative; a duration must be positive")
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(raw):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not raw or pos != len(raw):
        raise ValueError(f'{text!r} is not a duration; use e.g. "90s", "10m", "2h", "1d"')
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


def _parse_clock(text: str) -> time:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not match or int(match.group(1)) > 24 or int(match.group(2)) > 59:
        raise ValueError(f'{text!r} is not a time of day; use HH:MM, e.g. "09:00"')
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour == 24:
        if minute:
            raise ValueError(f"{text!r} is past midnight")
        return time.max
    return time(hour, minute)


def parse_time_range(text: object) -> tuple[time, time]:
    """Parse "09:00-17:30" into two times. The end may be before the start (crosses midnight)."""
    if not isinstance(text, str) or "-" not in text:
        raise ValueError(f'{text!r} is not a time range; use "HH:MM-HH:MM", e.g. "09:00-17:30"')
    start, _, end = text.partition("-")
    return _parse_clock(start), _parse_clock(end)


def parse_days(text: object) -> frozenset[int]:
    """Parse "Mon-Fri", "Mon,Wed,Fri" or "Sun-Thu" into ISO weekday numbers 0..6 (Mon=0)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f'{text!r} is not a list of days; use e.g. "Mon-Fri" or "Mon,Wed"')
    days: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        try:
            a = WEEKDAYS.index(first[:3])
            b = WEEKDAYS.index(last[:3]) if last else a
        except ValueError:
            raise ValueError(
                f"{part!r} is not a day; use Mon, Tue, Wed, Thu, Fri, Sat, Sun"
            ) from None
        i = a
        while True:
            days.add(i)
            if i == b:
                break
            i = (i + 1) % 7
    return frozenset(days)


# --------------------------------------------------------------------------- the shapes


@dataclass(frozen=True)
class SourceConfig:
    name: str
    kind: str
    url: str = ""
    user: str = ""
    secret_env: str = ""
    interval: timedelta = DEFAULT_INTERVAL["assistant"]
    categories: tuple[str, ...] = ()
    verify: bool | str = True
    proxy: str = ""
    timeout: float = 30.0
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WindowRule:
    window: timedelta
    source: str | None = None
    category: str | None = None
    priority: str | None = None

    @property
    def specificity(self) -> int:
        return sum(x is not None for x in (self.source, self.category, self.priority))


@dataclass(frozen=True)
class Windows:
    default: timedelta = timedelta(hours=2)
    rules: tuple[WindowRule, ...] = ()
    use_helpdesk_due: bool = True


@dataclass(frozen=True)
class BusinessHours:
    timezone: str
    days: frozenset[int]
    start: time
    end: time
    holidays: str = ""  # country code, optionally with subdivision: "GB", "US-CA", "DE-BY"


@dataclass(frozen=True)
class Alerts:
    sound: str = "chime"
    volume: float = 0.8
    remind_every: timedelta | None = timedelta(minutes=15)
    due_soon: float = 0.8
    quiet_hours: tuple[time, time] | None = None


@dataclass(frozen=True)
class EscalationLevel:
    after: timedelta
    notify: tuple[str, ...]


@dataclass(frozen=True)
class Escalation:
    levels: tuple[EscalationLevel, ...] = ()
    repeat_every: timedelta | None = None
    sent_by: str = "owner"
    blind_after: timedelta = timedelta(minutes=30)
    give_up_after: timedelta = timedelta(days=1)
    digest_at: time | None = None
    digest_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    role: str = "assistant"
    sources: tuple[SourceConfig, ...] = ()
    windows: Windows = Windows()
    business_hours: BusinessHours | None = None
    alerts: Alerts = Alerts()
    escalation: Escalation = Escalation()
    retention: timedelta = timedelta(days=7)
    start_at_login: bool = False
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def source(self, name: str) -> SourceConfig:
        for src in self.sources:
            if src.name == name:
                return src
        raise KeyError(name)


# --------------------------------------------------------------------------- paths


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "ticketbell.toml"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


# --------------------------------------------------------------------------- validation


class _Reader:
    """Reads typed values out of a TOML table, raising ConfigError with the full key path."""

    def __init__(self, file: Path | None, table: dict[str, Any], prefix: str = "") -> None:
        self.file = file
        self.table = table
        self.prefix = prefix

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def error(self, name: str, message: str) -> ConfigError:
        return ConfigError(self.file, self.key(name), message)

    def check_unknown(self, allowed: tuple[str, ...] | set[str]) -> None:
        for name in self.table:
            if name not in allowed:
                known = ", ".join(sorted(allowed))
                raise self.error(name, f"unknown key; known keys here: {known}")

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        if name not in self.table:
            return default
        value = self.table[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise self.error(name, f"must be {_type_names(kinds)}, not true/false")
        if not isinstance(value, kinds):
            raise self.error(name, f"must be {_type_names(kinds)}, not {_type_name(value)}")
        return value

    def text(self, name: str, default: str = "", required: bool = False) -> str:
        if required and name not in self.table:
            raise self.error(name, "is missing")
        value = self.get(name, str, default)
        if required and not value.strip():
            raise self.error(name, "must not be empty")
        if "\x00" in value:
            raise self.error(name, "contains a NUL character")
        return value

    def duration(
        self, name: str, default: timedelta | None, minimum: timedelta = timedelta(0)
    ) -> timedelta | None:
        if name not in self.table:
            return default
        try:
            value = parse_duration(self.table[name])
        except ValueError as exc:
            raise self.error(name, str(exc)) from None
        if value < minimum or (minimum and value <= timedelta(0)):
            raise self.error(name, f"must be at least {format_duration(minimum)}")
        if value > MAX_DURATION:
            shown = self.table[name]
            raise self.error(name, f"{shown!r} is longer than {format_duration(MAX_DURATION)}")
        return value

    def strings(self, name: str) -> tuple[str, ...]:
        value = self.get(name, (list, str), [])
        if isinstance(value, str):
            value = [value]
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                raise ConfigError(self.file, f"{self.key(name)}[{i}]", "must be a non-empty string")
        return tuple(item.strip() for item in value)

    def sub(self, name: str) -> _Reader:
        value = self.get(name, dict, {})
        return _Reader(self.file, value, f"{self.key(name)}.")


def _type_name(value: object) -> str:
    return {
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "true/false",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _type_names(kinds: tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "a whole number",
        float: "a number",
        bool: "true or false",
        list: "a list",
        dict: "a table",
    }
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


MAX_NAME = 100


def _is_pem_bundle(path: Path) -> bool:
    """Whether ``path`` holds a PEM certificate (looked for in its first 8 MiB)."""
    try:
        with path.open("rb") as f:
            return b"-----BEGIN CERTIFICATE-----" in f.read(8 << 20)
    except OSError:
        return False


def _read_source(file: Path | None, index: int, table: object, role: str) -> SourceConfig:
    from agent.sources import KINDS, source_class

    if not isinstance(table, dict):
        raise ConfigError(file, f"sources[{index}]", "must be a table ([[sources]])")
    r = _Reader(file, table, f"sources[{index}].")
    name = r.text("name", required=True).strip()
    if INVISIBLE.search(name):  # shown in menus and log lines
        raise r.error("name", "contains a control or text-direction character; use plain text")
    if len(name) > MAX_NAME:
        raise r.error("name", f"is longer than {MAX_NAME} characters")
    kind = r.text("kind", required=True).strip()
    if kind not in KINDS:
        raise r.error("kind", f"unknown kind {kind!r}; known kinds: {', '.join(sorted(KINDS))}")
    cls = source_class(kind)
    specific = {opt.key: opt for opt in cls.optional + cls.required}
    r.check_unknown(set(COMMON_SOURCE_KEYS) | set(specific))

    url = r.text("url").strip()
    for opt in cls.required:
        if opt.key in COMMON_SOURCE_KEYS and not r.table.get(opt.key):
            raise r.error(opt.key, f"is missing; a {kind} source needs its {opt.label.lower()}")
    if url:
        if not re.match(r"^[a-z][a-z0-9+.-]*://[^/\s]+", url, re.IGNORECASE):
            raise r.error("url", f"{url!r} is not a URL; it must start with https:// (or http://)")
        if re.match(r"^[a-z][a-z0-9+.-]*://[^/@\s]*:[^/@\s]*@", url, re.IGNORECASE):
            raise r.error("url", "must not contain a password; store it in the keyring instead")

    secret_env = r.text("secret_env").strip()
    if secret_env and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", secret_env):
        raise r.error("secret_env", f"{secret_env!r} is not an environment variable name")

    verify = r.get("verify", (bool, str), True)
    if isinstance(verify, str):
        if not verify.strip():
            raise r.error("verify", "must be true, false, or the path of a CA bundle file")
        ca = Path(verify).expanduser()
        if file is not None and not ca.is_absolute():
            ca = file.parent / ca
        if not ca.is_file():
            raise r.error("verify", f"CA bundle {verify!r} does not exist or is not a file")
        if not _is_pem_bundle(ca):
            # e.g. "../../etc/shadow": refused without quoting a byte of what the file holds
            raise r.error("verify", f"{verify!r} is not a CA bundle (no PEM certificate in it)")
        verify = str(ca)

    timeout = r.get("timeout", (int, float), 30)
    if not 1 <= timeout <= 300:
        raise r.error("timeout", f"{timeout} is out of range; use 1 to 300 seconds")

    proxy = r.text("proxy").strip()
    if "@" in proxy:  # user:password@ (not quoted: `config show` and this message would)
        raise r.error(
            "proxy",
            "must not contain a user name or password; use a proxy that needs none, or set "
            "HTTPS_PROXY in this computer's environment and leave proxy out",
        )
    if proxy and not re.match(r"^(https?|socks5h?)://", proxy):
        raise r.error("proxy", f"{proxy!r} is not a proxy URL (http://, https:// or socks5://)")

    interval = r.duration("interval", DEFAULT_INTERVAL[role], MIN_INTERVAL)
    assert interval is not None

    options: dict[str, Any] = {}
    for key, opt in specific.items():
        if key in COMMON_SOURCE_KEYS:
            continue
        if key not in r.table:
            if opt in cls.required:
                raise r.error(key, f"is missing; a {kind} source needs it ({opt.label})")
            options[key] = opt.default
            continue
        value = r.get(key, opt.type)
        if opt.type is list:
            value = r.strings(key)
        options[key] = value

    return SourceConfig(
        name=name,
        kind=kind,
        url=url,
        user=r.text("user").strip(),
        secret_env=secret_env,
        interval=interval,
        categories=r.strings("categories"),
        verify=verify,
        proxy=proxy,
        timeout=float(timeout),
        options=options,
    )


def _read_windows(file: Path | None, r: _Reader) -> Windows:
    r.check_unknown({"default", "rules", "use_helpdesk_due"})
    default = r.duration("default", timedelta(hours=2), timedelta(minutes=1))
    rules = []
    for i, rule in enumerate(r.get("rules", list, [])):
        key = f"{r.key('rules')}[{i}]"
        if not isinstance(rule, dict):
            raise ConfigError(
                file, key, 'must be a table like { priority = "urgent", window = "10m" }'
            )
        rr = _Reader(file, rule, key + ".")
        rr.check_unknown({"source", "category", "priority", "window"})
        if "window" not in rule:
            raise rr.error("window", "is missing")
        window = rr.duration("window", None, timedelta(minutes=1))
        priority = rr.text("priority").strip().lower() or None
        if priority and priority not in ("low", "normal", "high", "urgent"):
            raise rr.error("priority", f"{priority!r} is not low, normal, high or urgent")
        source = rr.text("source").strip() or None
        category = rr.text("category").strip() or None
        if not (source or category or priority):
            raise ConfigError(file, key, "matches nothing; give a source, category or priority")
        assert window is not None
        rules.append(WindowRule(window, source, category, priority))
    assert default is not None
    return Windows(default, tuple(rules), bool(r.get("use_helpdesk_due", bool, True)))


def _read_business_hours(file: Path | None, r: _Reader) -> BusinessHours | None:
    if not r.table:
        return None
    r.check_unknown({"timezone", "days", "hours", "holidays"})
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    tz = r.text("timezone", required=True).strip()
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise r.error("timezone", f'{tz!r} is not a time zone; use e.g. "Europe/London"') from None
    try:
        days = parse_days(r.get("days", str, "Mon-Fri"))
    except ValueError as exc:
        raise r.error("days", str(exc)) from None
    try:
        start, end = parse_time_range(r.get("hours", str, "09:00-17:00"))
    except ValueError as exc:
        raise r.error("hours", str(exc)) from None
    if end <= start:
        raise r.error("hours", "must end after it starts (business hours within one day)")
    country = r.text("holidays").strip().upper()
    if country:
        import holidays

        code, _, subdiv = country.partition("-")
        supported = holidays.list_supported_countries()
        if code not in supported:
            raise r.error(
                "holidays", f'{country!r} is not a country code holidays knows, e.g. "GB"'
            )
        if subdiv and subdiv not in supported[code]:
            raise r.error("holidays", f"{subdiv!r} is not a subdivision of {code}")
    return BusinessHours(tz, days, start, end, country)


def _read_alerts(file: Path | None, r: _Reader) -> Alerts:
    r.check_unknown({"sound", "volume", "remind_every", "due_soon", "quiet_hours"})
    sound = r.text("sound", "chime").strip() or "chime"
    if sound not in ("chime", "off"):
        path = Path(sound).expanduser()
        if path.suffix.lower() != ".wav":
            raise r.error("sound", 'must be "chime", "off", or the path of a .wav file')
        if not path.is_file():
            raise r.error("sound", f"the file {sound!r} does not exist")
    volume = r.get("volume", (int, float), 0.8)
    if not 0 <= volume <= 1:
        raise r.error("volume", f"{volume} is out of range; use 0.0 to 1.0")
    remind = r.table.get("remind_every")
    remind_every = (
        None
        if remind in ("off", "0", "never", "")
        else r.duration("remind_every", timedelta(minutes=15), timedelta(minutes=1))
    )
    due_soon = r.get("due_soon", (int, float), 0.8)
    if not 0 < due_soon < 1:
        raise r.error("due_soon", f"{due_soon} is out of range; use a fraction like 0.8")
    quiet = None
    if "quiet_hours" in r.table and r.table["quiet_hours"] not in ("", "off"):
        try:
            quiet = parse_time_range(r.table["quiet_hours"])
        except ValueError as exc:
            raise r.error("quiet_hours", str(exc)) from None
    return Alerts(sound, float(volume), remind_every, float(due_soon), quiet)


def _read_targets(file: Path | None, r: _Reader, name: str) -> tuple[str, ...]:
    """Channel targets: "owner-desktop", an apprise URL without secrets, or "keyring:NAME".

    A URL that carries a password or token is refused (apprise's private form of it differs):
    secrets live in the keyring, never in the config file.
    """
    targets = r.strings(name)
    if not targets:
        return targets
    # only now: agent.escalation is the channels' code, which a config without them never needs
    from agent.escalation import carries_secret, channel_secrets, check_target, describe_target

    for i, target in enumerate(targets):
        found = channel_secrets(target)  # before check_target: apprise logs the URL it loads
        where = f" ({found[0][0]})" if found else ""
        problem = None
        if found or carries_secret(target):
            problem = (
                f"{describe_target(target)} carries a password or token{where}, which must not "
                "be in the config file; store the URL in the keyring with `ticketbell secret "
                'set NAME` (or in Settings) and write "keyring:NAME" here'
            )
        problem = check_target(target) or problem
        if problem:
            raise ConfigError(file, f"{r.key(name)}[{i}]", problem)
    return targets


def _read_escalation(file: Path | None, r: _Reader) -> Escalation:
    r.check_unknown(
        {
            "levels",
            "repeat_every",
            "sent_by",
            "blind_after",
            "give_up_after",
            "digest_at",
            "digest_to",
        }
    )
    levels = []
    for i, level in enumerate(r.get("levels", list, [])):
        key = f"{r.key('levels')}[{i}]"
        if not isinstance(level, dict):
            raise ConfigError(file, key, 'must be a table like { after = "0m", notify = [...] }')
        lr = _Reader(file, level, key + ".")
        lr.check_unknown({"after", "notify"})
        after = lr.duration("after", timedelta(0))
        notify = _read_targets(file, lr, "notify")
        if not notify:
            raise lr.error("notify", "is missing; list where this level is sent")
        assert after is not None
        levels.append(EscalationLevel(after, notify))
    if any(b.after < a.after for a, b in itertools.pairwise(levels)):
        raise r.error("levels", 'must be in order of their "after" delays')
    sent_by = r.text("sent_by", "owner").strip()
    if sent_by not in ROLES:
        raise r.error("sent_by", f'{sent_by!r} is not a role; use "owner" or "assistant"')
    digest_at = None
    if "digest_at" in r.table:
        try:
            digest_at = _parse_clock(r.get("digest_at", str))
        except ValueError as exc:
            raise r.error("digest_at", str(exc)) from None
    blind = r.duration("blind_after", timedelta(minutes=30), timedelta(minutes=1))
    give_up = r.duration("give_up_after", timedelta(days=1), timedelta(minutes=1))
    assert blind is not None and give_up is not None
    return Escalation(
        levels=tuple(levels),
        repeat_every=r.duration("repeat_every", None, timedelta(minutes=1)),
        sent_by=sent_by,
        blind_after=blind,
        give_up_after=give_up,
        digest_at=digest_at,
        digest_to=_read_targets(file, r, "digest_to"),
    )


TOP_LEVEL_KEYS = {
    "role",
    "sources",
    "windows",
    "business_hours",
    "alerts",
    "escalation",
    "retention",
    "start_at_login",
}


def from_dict(data: dict[str, Any], path: Path | None = None) -> Config:
    """Validate a parsed TOML document. Raises ConfigError naming the first problem found."""
    r = _Reader(path, data)
    r.check_unknown(TOP_LEVEL_KEYS)
    role = r.text("role", "assistant").strip()
    if role not in ROLES:
        raise r.error("role", f'{role!r} is not a role; use "assistant" or "owner"')
    sources_raw = r.get("sources", list, [])
    sources = tuple(_read_source(path, i, s, role) for i, s in enumerate(sources_raw))
    seen: set[str] = set()
    for i, src in enumerate(sources):
        if src.name.casefold() in seen:
            raise ConfigError(path, f"sources[{i}].name", f"{src.name!r} is used twice")
        seen.add(src.name.casefold())
    retention = r.duration("retention", timedelta(days=7), timedelta(hours=1))
    assert retention is not None
    return Config(
        path=path,
        role=role,
        sources=sources,
        windows=_read_windows(path, r.sub("windows")),
        business_hours=_read_business_hours(path, r.sub("business_hours")),
        alerts=_read_alerts(path, r.sub("alerts")),
        escalation=_read_escalation(path, r.sub("escalation")),
        retention=retention,
        start_at_login=bool(r.get("start_at_login", bool, False)),
        raw=data,
    )


def load(path: Path) -> Config:
    """Read and validate the config file at ``path``."""
    return from_dict(_read_toml(path), path)


MAX_FILE_BYTES = 1 << 20  # a config or provisioning file; a real one is a few KB


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(path, "", "the file does not exist; run `ticketbell` to set up") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "", f"cannot read the file: {exc.__class__.__name__}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(path, "", f"is larger than {MAX_FILE_BYTES >> 20} MiB; not read")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "", f"is not valid TOML: {exc}") from None
    except RecursionError:  # [[[[…]]]] or {a={a={…}}} nested thousands deep
        raise ConfigError(path, "", "is nested too deeply to be a config file") from None
    return data


def to_toml(data: dict[str, Any]) -> str:
    import tomli_w

    return tomli_w.dumps(data)


def save(data: dict[str, Any], path: Path) -> Config:
    """Validate ``data`` and write it atomically to ``path``. Returns the validated config."""
    from agent.queue import atomic_write

    config = from_dict(data, path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the file itself: 0600
    text = to_toml(data).encode("utf-8")
    try:
        previous = path.read_bytes()
    except FileNotFoundError:
        previous = None
    if previous is not None and previous != text:
        # The file being replaced may be one the person edited by hand (even a broken one the
        # Settings window could not read): keep it next to the new one rather than lose it.
        atomic_write(path.with_name(path.name + ".bak"), previous)
    atomic_write(path, text)
    return replace(config, path=path)


DEMO_CONFIG: dict[str, Any] = {
    "role": "assistant",
    "sources": [{"name": "Demo helpdesk", "kind": "demo", "interval": "5s"}],
    "windows": {
        "default": "15m",
        "rules": [
            {"priority": "urgent", "window": "5m"},
            {"category": "Sales", "window": "10m"},
        ],
    },
    "alerts": {"remind_every": "5m"},
}


def demo_config() -> Config:
    """The configuration ``--demo`` runs with: the built-in demo helpdesk, short windows."""
    return from_dict(DEMO_CONFIG, None)


# --------------------------------------------------------------------------- provisioning
# An owner exports a provisioning file (sources, categories, windows, escalation: never a
# secret); staff import it and add their own token. A file that carries anything that looks like
# a secret is refused, so a token pasted into one cannot travel by e-mail unnoticed.

_SECRET_KEY = re.compile(
    r"(?:^|[_-])(token|password|passwd|pwd|secret|api[_-]?key|private[_-]?key|access[_-]?key"
    r"|client[_-]?secret|credentials?)(?:$|[_-])",
    re.IGNORECASE,
)
_NOT_SECRET_KEYS = {"secret_env"}  # names an environment variable, not its value
_URL_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s]*:[^/@\s]+@", re.IGNORECASE)
_URL_SECRET_QUERY = re.compile(
    r"[?&](token|access_token|password|pass|secret|api_?key|apikey|key)=", re.IGNORECASE
)


def secret_findings(data: object, prefix: str = "") -> list[tuple[str, str]]:
    """Every place in ``data`` that looks like a secret: (key path, why)."""
    found: list[tuple[str, str]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if _is_secret_key(key):
                found.append((path, f"the key {key!r} looks like a secret"))
            else:
                found += secret_findings(value, path)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += secret_findings(value, f"{prefix}[{i}]")
    elif isinstance(data, str):
        if _URL_PASSWORD.match(data):
            found.append((prefix, "the URL carries a password"))
        elif _URL_SECRET_QUERY.search(data) and "://" in data:
            found.append((prefix, "the URL carries a token"))
        elif "://" in data and _channel_secrets(data):
            found.append((prefix, f"the channel URL carries a token ({_channel_secrets(data)})"))
    return found


def _channel_secrets(url: str) -> str:
    """Where an apprise channel URL carries a secret ("the +X-Api-Key field"), or ""."""
    from agent.escalation import channel_secrets

    return ", ".join(dict.fromkeys(where for where, _ in channel_secrets(url)))


def read_provisioning(path: Path) -> Config:
    """Read and validate a provisioning file. Raises ConfigError, also when it holds a secret."""
    data = _read_toml(path)
    findings = secret_findings(data)
    if findings:
        key, why = findings[0]
        more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
        raise ConfigError(
            path,
            key,
            f"{why}{more}; a provisioning file must not carry secrets. Remove it, and add the "
            "token on each computer with `ticketbell secret set NAME` (or in Settings)",
        )
    config = from_dict(data, path)
    for table, src in zip(data.get("sources", []), config.sources, strict=True):
        if isinstance(src.verify, str):  # a CA path relative to the file: kept once imported
            table["verify"] = src.verify
    return replace(config, raw=data)


def risky_settings(config: Config) -> list[str]:
    """What a provisioning file asks for that a person should agree to before it is used:
    TLS certificates not checked or checked against its own CA, traffic through a proxy,
    escalations sent from this computer (``sent_by`` its role) to channels outside it."""
    from agent.escalation import OWNER_DESKTOP, describe_target

    risky = []
    for src in config.sources:
        if src.verify is False:
            risky.append(f"{src.name}: TLS certificates are not checked (verify = false)")
        elif isinstance(src.verify, str):
            risky.append(f"{src.name}: trusts the certificates in {src.verify}")
        if src.proxy:
            risky.append(f"{src.name}: all its traffic goes through the proxy {src.proxy}")
    esc = config.escalation
    if esc.sent_by == config.role:
        targets = [t for level in esc.levels for t in level.notify] + list(esc.digest_to)
        for target in dict.fromkeys(targets):
            if target != OWNER_DESKTOP:
                risky.append(
                    f"escalations are sent from this computer to {describe_target(target)}"
                )
    return risky


def secrets_needed(config: Config) -> list[tuple[str, str]]:
    """The secrets this config expects in the keyring: (name, what it is), in config order."""
    from agent.sources import source_class

    needed = []
    for src in config.sources:
        cls = source_class(src.kind)
        if cls.needs_secret and not src.secret_env:
            needed.append((src.name, f"{cls.secret_label} for the {src.kind} source"))
    channels = [t for level in config.escalation.levels for t in level.notify]
    for target in dict.fromkeys([*channels, *config.escalation.digest_to]):
        if target.startswith("keyring:"):
            needed.append((target.removeprefix("keyring:"), "the escalation channel's URL"))
    return needed


def export_provisioning(config: Config, role: str = "assistant") -> str:
    """The config as a provisioning file for staff: TOML with every secret-looking entry left
    out (and named in a comment), the role set to ``role``, and the tokens to add listed."""
    data = _without_secrets(dict(config.raw))
    data["role"] = role
    escalation = data.get("escalation")
    if isinstance(escalation, dict) and "levels" in escalation:  # a level left with no channel
        escalation["levels"] = [lv for lv in escalation["levels"] if lv.get("notify")]
    lines = ["# Ticketbell provisioning file: import it with `ticketbell --import FILE`."]
    left_out = [key for key, _ in secret_findings(config.raw)]
    if left_out:
        lines.append(f"# Left out because they look like secrets: {', '.join(left_out)}")
    for name, what in secrets_needed(from_dict(data, None)):
        lines.append(f"# After importing, add the {what}: ticketbell secret set {name!r}")
    return "\n".join(lines) + "\n\n" + to_toml(data)


def _is_secret_key(key: object) -> bool:
    return key not in _NOT_SECRET_KEYS and bool(_SECRET_KEY.search(str(key)))


def _without_secrets(data: object) -> Any:
    def secret_text(value: object) -> bool:
        return isinstance(value, str) and bool(secret_findings(value))

    if isinstance(data, dict):
        return {
            k: _without_secrets(v)
            for k, v in data.items()
            if not _is_secret_key(k) and not secret_text(v)
        }
    if isinstance(data, list):
        return [_without_secrets(v) for v in data if not secret_text(v)]
    return data
