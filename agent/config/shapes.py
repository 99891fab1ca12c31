"""The configuration's shapes: what a validated config file becomes, its errors, and reading
the file's TOML.

Defaults come from the declarations in :mod:`agent.config.schema`, written there once.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import platformdirs

import agent.config.schema as schema
from agent.config.values import parse_duration
from agent.i18n import N_, Text, _

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = ["tomllib"]  # with the names defined here: the TOML reader in use, for read.py

APP_NAME = "ticketbell"
DEFAULT_INTERVAL = {role: parse_duration(text) for role, text in schema.DEFAULT_INTERVAL.items()}
MIN_INTERVAL = parse_duration(schema.MIN_INTERVAL)
COMMON_SOURCE_KEYS = tuple(opt.key for opt in schema.SOURCE)
TOP_LEVEL_KEYS = schema.keys(schema.GENERAL) | set(schema.TABLES) - {""}
DEFAULTS = schema.defaults()
MAX_NAME = 100

#: where in the document: ("sources", 1, "interval") is ``sources[1].interval``
KeyPath = tuple[str | int, ...]


def key_text(parts: KeyPath) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


class ConfigError(ValueError):
    """A configuration problem, located: ``file: key: what is wrong and what is allowed``.

    ``parts`` is the key as a path (("sources", 1, "url")), so the settings window puts the
    message next to its field without reading it back out of ``key``, the text form.
    ``message`` is shown in the person's language: a text marked ``N_("must be at least
    {minimum}")`` where it is written, its ``values`` filled in after translating (the key
    path and the file name stay as they are).
    """

    def __init__(
        self, file: str | Path | None, key: KeyPath | str, message: str | Text, **values: object
    ) -> None:
        self.file = str(file) if file else "<config>"
        self.parts: KeyPath = key if isinstance(key, tuple) else ((key,) if key else ())
        self.key = key_text(self.parts)
        if isinstance(message, Text):  # a connector's check_options
            self.message, written = str(message), message.english
        else:
            self.message = _(message).format(**values) if values else _(message)
            written = message.format(**values) if values else message
        super().__init__(self._located(self.message))
        #: the whole text in English (the message as written), for the log and JSON output
        self.english = self._located(written)

    def _located(self, message: str) -> str:
        return f"{self.file}: {self.key}: {message}" if self.key else f"{self.file}: {message}"

    @property
    def source_index(self) -> int | None:
        """Which ``[[sources]]`` table the error is in, or None."""
        if len(self.parts) > 1 and self.parts[0] == "sources" and isinstance(self.parts[1], int):
            return self.parts[1]
        return None


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
    verify: bool | str = DEFAULTS["sources.verify"]
    proxy: str = ""
    timeout: float = DEFAULTS["sources.timeout"]
    options: dict[str, Any] = field(default_factory=dict)
    sound: str = ""  # "": the [alerts] sound
    accent: str = ""  # "#rrggbb" shown beside its tickets


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
    default: timedelta = DEFAULTS["windows.default"]
    rules: tuple[WindowRule, ...] = ()
    use_helpdesk_due: bool = DEFAULTS["windows.use_helpdesk_due"]


@dataclass(frozen=True)
class BusinessHours:
    timezone: str
    days: frozenset[int]
    start: time
    end: time
    holidays: str = ""  # country code, optionally with subdivision: "GB", "US-CA", "DE-BY"


@dataclass(frozen=True)
class Alerts:
    sound: str = DEFAULTS["alerts.sound"]
    volume: float = DEFAULTS["alerts.volume"]
    remind_every: timedelta | None = DEFAULTS["alerts.remind_every"]
    due_soon: float = DEFAULTS["alerts.due_soon"]
    quiet_hours: tuple[time, time] | None = None
    forecast_lead: timedelta = DEFAULTS["alerts.forecast_lead"]
    priority_sounds: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EscalationLevel:
    after: timedelta
    notify: tuple[str, ...]
    #: "overdue" (by ``after``) or "nobody_watching" (agent.team_agent: no member follows it)
    when: str = "overdue"


@dataclass(frozen=True)
class Escalation:
    levels: tuple[EscalationLevel, ...] = ()
    repeat_every: timedelta | None = None
    sent_by: str = DEFAULTS["escalation.sent_by"]
    blind_after: timedelta = DEFAULTS["escalation.blind_after"]
    give_up_after: timedelta = DEFAULTS["escalation.give_up_after"]
    digest_at: time | None = None
    digest_to: tuple[str, ...] = ()
    scorecard_at: tuple[int, time] | None = None  # (weekday, time): the weekly scorecard


@dataclass(frozen=True)
class Team:
    """``[team]``: the MQTT broker a hub publishes to and members read from (agent.team)."""

    broker: str
    name: str
    user: str
    secret_env: str = ""
    ca: str = ""
    hub: bool = False
    heartbeat: timedelta = DEFAULTS["team.heartbeat"]
    claim_expiry: timedelta = DEFAULTS["team.claim_expiry"]


@dataclass(frozen=True)
class QuietRules:
    """[quiet]: do-not-disturb and away, the noise budget (agent/quiet.py applies them)."""

    away_after: timedelta = DEFAULTS["quiet.away_after"]
    break_through: tuple[str, ...] = tuple(DEFAULTS["quiet.break_through"])
    max_interruptions: int = DEFAULTS["quiet.max_interruptions"]
    gather_every: timedelta = DEFAULTS["quiet.gather_every"]
    follow_desktop: bool = DEFAULTS["quiet.follow_desktop"]


@dataclass(frozen=True)
class VipRule:
    """A [[vip]] table: whom it matches (lower case), their window, sound and escalation."""

    email: str = ""
    domain: str = ""
    organization: str = ""
    window: timedelta | None = None
    sound: str = "urgent"
    escalate: bool = True


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    role: str = DEFAULTS["role"]
    sources: tuple[SourceConfig, ...] = ()
    windows: Windows = Windows()
    business_hours: BusinessHours | None = None
    alerts: Alerts = Alerts()
    escalation: Escalation = Escalation()
    retention: timedelta = DEFAULTS["retention"]
    start_at_login: bool = DEFAULTS["start_at_login"]
    team: Team | None = None
    language: str = DEFAULTS["language"]  # "" : the operating system's
    quiet: QuietRules = QuietRules()
    vips: tuple[VipRule, ...] = ()
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


MAX_FILE_BYTES = 1 << 20  # a config or provisioning file; a real one is a few KB


def read_toml(path: Path) -> dict[str, Any]:
    """The TOML document in the file at ``path``, or a ConfigError saying why it cannot be read."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(
            path, "", N_("the file does not exist; run `ticketbell` to set up")
        ) from None
    except OSError as exc:  # a folder, no permission: said in words ("Is a directory")
        error = exc.strerror or exc.__class__.__name__
        raise ConfigError(path, "", N_("cannot read the file: {error}"), error=error) from None
    if len(raw) > MAX_FILE_BYTES:
        said = N_("is larger than {size} MiB; not read")
        raise ConfigError(path, "", said, size=MAX_FILE_BYTES >> 20)
    try:
        text = raw.decode("utf-8-sig")  # -sig: Windows Notepad starts UTF-8 with a BOM
    except UnicodeDecodeError:
        said = N_("cannot read the file: it is not UTF-8 text; save it with the UTF-8 encoding")
        raise ConfigError(path, "", said) from None
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "", N_("is not valid TOML: {error}"), error=exc) from None
    except RecursionError:  # [[[[…]]]] or {a={a={…}}} nested thousands deep
        raise ConfigError(path, "", N_("is nested too deeply to be a config file")) from None
    return data
