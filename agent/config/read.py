"""Reading a TOML document into a :class:`~agent.config.shapes.Config`, key by key as the
declarations in :mod:`agent.config.schema` say, with one clear error naming file and key."""

from __future__ import annotations

import itertools
import os
from dataclasses import replace
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import agent.config.schema as schema
import agent.config.values as values
from agent.channels import carries_secret, channel_secrets, check_target, describe_target
from agent.config.shapes import (
    COMMON_SOURCE_KEYS,
    DEFAULT_INTERVAL,
    MAX_FILE_BYTES,
    MAX_NAME,
    TOP_LEVEL_KEYS,
    Alerts,
    BusinessHours,
    Config,
    ConfigError,
    Escalation,
    EscalationLevel,
    KeyPath,
    QuietRules,
    SourceConfig,
    Team,
    VipRule,
    WindowRule,
    Windows,
    read_toml,
    tomllib,
)
from agent.config.values import (
    MAX_DURATION,
    format_duration,
    is_pem_bundle,
    parse_days,
    parse_duration,
    parse_time_range,
)
from agent.i18n import N_, _
from agent.model import INVISIBLE
from agent.sources.base import Option

__all__ = ["MAX_FILE_BYTES", "read_toml", "tomllib"]  # re-exported by agent.config

# --------------------------------------------------------------------------- reading values

_TYPE_NAMES = {
    str: N_("a string"),
    int: N_("a whole number"),
    float: N_("a number"),
    bool: N_("true or false"),
    list: N_("a list"),
    dict: N_("a table"),
}
_VALUE_NAMES = {**_TYPE_NAMES, int: N_("a number"), bool: "true/false"}


class _Reader:
    """Reads typed values out of a TOML table, raising ConfigError with the full key path."""

    def __init__(self, file: Path | None, table: dict[str, Any], at: KeyPath = ()) -> None:
        self.file = file
        self.table = table
        self.at = at

    def key(self, name: str | int) -> KeyPath:
        return (*self.at, name)

    def error(self, name: str | int, message: str, **values: object) -> ConfigError:
        return ConfigError(self.file, self.key(name), message, **values)

    def check_unknown(self, allowed: set[str] | tuple[Option, ...]) -> None:
        known = allowed if isinstance(allowed, set) else schema.keys(allowed)
        for name in self.table:
            if name not in known:
                said = N_("unknown key; known keys here: {keys}")
                raise self.error(name, said, keys=", ".join(sorted(known)))

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        if name not in self.table:
            return default
        value = self.table[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        names = _(" or ").join(dict.fromkeys(_(_TYPE_NAMES.get(k, k.__name__)) for k in kinds))
        if isinstance(value, bool) and bool not in kinds:
            raise self.error(name, N_("must be {kinds}, not true/false"), kinds=names)
        if not isinstance(value, kinds):
            shown = _VALUE_NAMES.get(type(value), type(value).__name__)
            raise self.error(name, N_("must be {kinds}, not {found}"), kinds=names, found=_(shown))
        return value

    def text(self, name: str, default: str = "", required: bool = False) -> str:
        if required and name not in self.table:
            raise self.error(name, N_("is missing"))
        value: str = self.get(name, str, default)
        if required and not value.strip():
            raise self.error(name, N_("must not be empty"))
        if "\x00" in value:
            raise self.error(name, N_("contains a NUL character"))
        return value

    def duration(self, opt: Option, default: timedelta | None = None) -> timedelta | None:
        if opt.key not in self.table:
            return default if opt.default is None else parse_duration(opt.default)
        minimum = parse_duration(opt.minimum) if opt.minimum else timedelta(0)
        try:
            value = parse_duration(self.table[opt.key])
        except ValueError as exc:
            raise self.error(opt.key, str(exc)) from None
        if value < minimum or (minimum and value <= timedelta(0)):
            raise self.error(
                opt.key, N_("must be at least {minimum}"), minimum=format_duration(minimum)
            )
        if value > MAX_DURATION:
            said, longest = N_("{value!r} is longer than {longest}"), format_duration(MAX_DURATION)
            raise self.error(opt.key, said, value=self.table[opt.key], longest=longest)
        return value

    def strings(self, name: str) -> tuple[str, ...]:
        value = self.get(name, (list, str), [])
        if isinstance(value, str):
            value = [value]
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                raise ConfigError(self.file, (*self.key(name), i), N_("must be a non-empty string"))
        return tuple(item.strip() for item in value)

    def value(self, opt: Option) -> Any:
        """``opt``'s value (its default when absent), typed and checked as declared."""
        if opt.type is timedelta:
            return self.duration(opt)
        if opt.type is list:
            return self.strings(opt.key) if opt.key in self.table else opt.default
        if opt.type is str:
            value: Any = self.text(opt.key, str(opt.default or "")).strip()
        else:
            kinds = (int, float) if opt.type is float else opt.type
            value = self.get(opt.key, kinds, opt.default)
        problem = opt.check(value) if opt.check and opt.key in self.table else ""
        if problem:
            raise self.error(opt.key, problem)
        return value

    def sub(self, name: str) -> _Reader:
        return _Reader(self.file, self.get(name, dict, {}), self.key(name))

    def item(self, name: str, i: int, shape: str) -> _Reader:
        """The table at ``name[i]`` (a rule, a level), or an error saying what shape it needs."""
        item = self.table[name][i]
        if not isinstance(item, dict):
            said = N_("must be a table like {shape}")
            raise ConfigError(self.file, (*self.key(name), i), said, shape=shape)
        return _Reader(self.file, item, (*self.key(name), i))

    def parsed(self, name: str, parse: Any, default: Any) -> Any:
        """``parse(value)`` of a string key, its ValueError as this key's error."""
        if name not in self.table:
            return default
        try:
            return parse(self.get(name, str))
        except ValueError as exc:
            raise self.error(name, str(exc)) from None


# --------------------------------------------------------------------------- sources


def _source_name(r: _Reader) -> str:
    name = r.text("name", required=True).strip()
    if INVISIBLE.search(name):  # shown in menus and log lines
        raise r.error("name", N_("contains a control or text-direction character; use plain text"))
    if len(name) > MAX_NAME:
        raise r.error("name", N_("is longer than {count} characters"), count=MAX_NAME)
    return name


def _source_kind(r: _Reader) -> str:
    from agent.sources import KINDS

    kind = r.text("kind", required=True).strip()
    if kind not in KINDS:
        said = N_("unknown kind {kind!r}; known kinds: {kinds}")
        raise r.error("kind", said, kind=kind, kinds=", ".join(sorted(KINDS)))
    return kind


def _ca_bundle(r: _Reader, key: str, given: str) -> str:
    """The CA bundle file ``key`` names (a relative path: next to the config file), checked
    to be a file with a PEM certificate in it; its path as the program opens it."""
    ca = Path(given).expanduser()
    if r.file is not None and not ca.is_absolute():
        ca = r.file.parent / ca
    if not ca.is_file():
        raise r.error(key, N_("CA bundle {path!r} does not exist or is not a file"), path=given)
    if not is_pem_bundle(ca):
        # e.g. "../../etc/shadow": refused without quoting a byte of what the file holds
        said = N_("{path!r} is not a CA bundle (no PEM certificate in it)")
        raise r.error(key, said, path=given)
    return str(ca)


def _verify(r: _Reader) -> bool | str:
    verify: bool | str = r.get("verify", (bool, str), True)
    if not isinstance(verify, str):
        return verify
    if not verify.strip():
        raise r.error("verify", N_("must be true, false, or the path of a CA bundle file"))
    return _ca_bundle(r, "verify", verify)


_NEEDED = N_("is missing; a {kind} source needs it ({label})")


def _kind_options(r: _Reader, kind: str, own: dict[str, tuple[Option, bool]]) -> dict[str, Any]:
    """The kind's own keys (those not every source has); ``own`` maps key -> (option, required)."""
    options: dict[str, Any] = {}
    for key, (opt, required) in own.items():
        if key in COMMON_SOURCE_KEYS:
            continue
        if key not in r.table:
            if required:
                raise r.error(key, _NEEDED, kind=kind, label=_(opt.label))
            options[key] = opt.default
            continue
        value = r.get(key, opt.type)
        options[key] = r.strings(key) if opt.type is list else value
        problem = opt.check(options[key]) if opt.check else ""
        if problem:
            raise r.error(key, problem)
    return options


def _read_source(file: Path | None, index: int, table: object, role: str) -> SourceConfig:
    from agent.sources import source_class

    if not isinstance(table, dict):
        raise ConfigError(file, ("sources", index), N_("must be a table ([[sources]])"))
    r = _Reader(file, table, ("sources", index))
    name, kind = _source_name(r), _source_kind(r)
    cls = source_class(kind)
    own = {o.key: (o, False) for o in cls.optional} | {o.key: (o, True) for o in cls.required}
    r.check_unknown(set(COMMON_SOURCE_KEYS) | set(own))
    for opt in cls.required:
        if opt.key in COMMON_SOURCE_KEYS and not r.table.get(opt.key):
            raise r.error(opt.key, _NEEDED, kind=kind, label=_(opt.label))
    special = ("name", "kind", "interval", "verify")
    common = {opt.key: r.value(opt) for opt in schema.SOURCE if opt.key not in special}
    interval = r.duration(schema.declared("sources", "interval"), DEFAULT_INTERVAL[role])
    assert interval is not None
    source = SourceConfig(
        name=name,
        kind=kind,
        url=common["url"],
        user=common["user"],
        secret_env=common["secret_env"],
        interval=interval,
        categories=tuple(common["categories"]),
        verify=_verify(r),
        proxy=common["proxy"],
        timeout=float(common["timeout"]),
        options=_kind_options(r, kind, own),
        sound=_sound(r, "") if "sound" in r.table else "",
        accent=common["accent"],
    )
    for key, message in cls.check_options(source):
        raise ConfigError(file, (*r.at, *key.split(".")), message)
    return source


def _read_sources(file: Path | None, r: _Reader, role: str) -> tuple[SourceConfig, ...]:
    tables = r.get("sources", list, [])
    sources = tuple(_read_source(file, i, s, role) for i, s in enumerate(tables))
    seen: set[str] = set()
    for i, src in enumerate(sources):
        if src.name.casefold() in seen:
            raise ConfigError(
                file, ("sources", i, "name"), N_("{name!r} is used twice"), name=src.name
            )
        seen.add(src.name.casefold())
    return sources


# --------------------------------------------------------------------------- the tables


_NOT_PRIORITY = N_("{priority!r} is not low, normal, high or urgent")


def _read_rule(r: _Reader, i: int) -> WindowRule:
    rr = r.item("rules", i, '{ priority = "urgent", window = "10m" }')
    rr.check_unknown(schema.RULE)
    if "window" not in rr.table:
        raise rr.error("window", N_("is missing"))
    window = rr.duration(schema.declared("windows.rules", "window"))
    priority = rr.text("priority").strip().lower() or None
    if priority and priority not in schema.PRIORITIES:
        raise rr.error("priority", _NOT_PRIORITY, priority=priority)
    source = rr.text("source").strip() or None
    category = rr.text("category").strip() or None
    if not (source or category or priority):
        raise ConfigError(r.file, rr.at, N_("matches nothing; give a source, category or priority"))
    assert window is not None
    return WindowRule(window, source, category, priority)


def _read_windows(r: _Reader) -> Windows:
    r.check_unknown(schema.WINDOWS)
    rules = tuple(_read_rule(r, i) for i in range(len(r.get("rules", list, []))))
    return Windows(r.value(schema.WINDOWS[0]), rules, bool(r.value(schema.WINDOWS[2])))


def _holidays(r: _Reader) -> str:
    country = r.text("holidays").strip().upper()
    if country:
        import holidays

        code, _, subdiv = country.partition("-")
        supported = holidays.list_supported_countries()
        if code not in supported:
            said = N_('{code!r} is not a country code holidays knows, e.g. "GB"')
            raise r.error("holidays", said, code=country)
        if subdiv and subdiv not in supported[code]:
            said = N_("{subdiv!r} is not a subdivision of {code}")
            raise r.error("holidays", said, subdiv=subdiv, code=code)
    return country


def _read_business_hours(r: _Reader) -> BusinessHours | None:
    if not r.table:
        return None
    r.check_unknown(schema.BUSINESS_HOURS)
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    tz = r.text("timezone", required=True).strip()
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        said = N_('{tz!r} is not a time zone; use e.g. "Europe/London"')
        raise r.error("timezone", said, tz=tz) from None
    days = r.parsed("days", parse_days, parse_days(schema.default("business_hours", "days")))
    hours = schema.default("business_hours", "hours")
    start, end = r.parsed("hours", parse_time_range, parse_time_range(hours))
    end = time.max if end == time(0) else end  # "to 00:00" is until midnight, as "24:00" is
    if end <= start:
        raise r.error("hours", N_("must end after it starts (business hours within one day)"))
    return BusinessHours(tz, days, start, end, _holidays(r))


def _sound(r: _Reader, default: str = "chime", key: str = "sound") -> str:
    sound = r.text(key, default).strip() or default
    return _sound_value(r, key, sound)


def _sound_value(r: _Reader, key: str, sound: str) -> str:
    if sound not in (*schema.BUILT_IN_SOUNDS, "off", ""):
        path = Path(sound).expanduser()
        if path.suffix.lower() != ".wav":
            names = ", ".join(f'"{n}"' for n in schema.BUILT_IN_SOUNDS)
            raise r.error(
                key, N_('must be {names}, "off", or the path of a .wav file'), names=names
            )
        if not path.is_file():
            raise r.error(key, N_("the file {path!r} does not exist"), path=sound)
    return sound


def _priority_sounds(r: _Reader) -> dict[str, str]:
    sounds = r.sub("priority_sounds")
    for priority, sound in sounds.table.items():
        if priority not in schema.PRIORITIES:
            raise sounds.error(priority, _NOT_PRIORITY, priority=priority)
        if not isinstance(sound, str):
            raise sounds.error(priority, N_("must be a string: a sound's name or a .wav file"))
        _sound_value(sounds, priority, sound.strip())
    return {p: str(v).strip() for p, v in sounds.table.items()}


def _read_alerts(r: _Reader) -> Alerts:
    r.check_unknown(schema.ALERTS)
    remind = r.table.get("remind_every")
    remind_every = None
    if remind not in ("off", "0", "never", ""):
        remind_every = r.value(schema.declared("alerts", "remind_every"))
    quiet = None
    if r.table.get("quiet_hours") not in (None, "", "off"):
        quiet = r.parsed("quiet_hours", parse_time_range, None)
    volume = float(r.value(schema.declared("alerts", "volume")))
    due_soon = float(r.value(schema.declared("alerts", "due_soon")))
    lead = r.value(schema.declared("alerts", "forecast_lead"))
    if not r.text("sound", "chime").strip():  # absent: the chime; written empty: a mistake
        raise r.error("sound", schema.NO_SOUND_FILE)
    return Alerts(
        _sound(r), volume, remind_every, due_soon, quiet, lead, priority_sounds=_priority_sounds(r)
    )


def _read_targets(r: _Reader, name: str) -> tuple[str, ...]:
    """Channel targets: "owner-desktop", an apprise URL without secrets, or "keyring:NAME".

    A URL that carries a password or token is refused (apprise's private form of it differs):
    secrets live in the keyring, never in the config file.
    """
    targets = r.strings(name)
    if not targets:
        return targets
    for i, target in enumerate(targets):
        found = channel_secrets(target)  # before check_target: apprise logs the URL it loads
        where = f" ({found[0][0]})" if found else ""
        problem = None
        if found or carries_secret(target):
            problem = _(
                "{target} carries a password or token{where}, which must not be in the config "
                "file; store the URL in the keyring with `ticketbell secret set NAME` (or in "
                'Settings) and write "keyring:NAME" here'
            ).format(target=describe_target(target), where=where)
        problem = check_target(target) or problem
        if problem:
            raise ConfigError(r.file, (*r.key(name), i), problem)
    return targets


def _read_level(r: _Reader, i: int) -> EscalationLevel:
    lr = r.item("levels", i, '{ after = "0m", notify = [...] }')
    lr.check_unknown(schema.LEVEL)
    after = lr.duration(schema.declared("escalation.levels", "after"))
    notify = _read_targets(lr, "notify")
    if not notify:
        raise lr.error("notify", N_("is missing; list where this level is sent"))
    assert after is not None
    return EscalationLevel(after, notify, lr.value(schema.declared("escalation.levels", "when")))


def _read_escalation(r: _Reader) -> Escalation:
    r.check_unknown(schema.ESCALATION)
    levels = tuple(_read_level(r, i) for i in range(len(r.get("levels", list, []))))
    if any(b.after < a.after for a, b in itertools.pairwise(levels)):
        raise r.error("levels", N_('must be in order of their "after" delays'))
    value = {opt.key: r.value(opt) for opt in schema.ESCALATION if opt.type is timedelta}
    return Escalation(
        levels=levels,
        repeat_every=value["repeat_every"],
        sent_by=r.value(schema.declared("escalation", "sent_by")),
        blind_after=value["blind_after"],
        give_up_after=value["give_up_after"],
        digest_at=r.parsed("digest_at", values.parse_clock, None),
        digest_to=_read_targets(r, "digest_to"),
        scorecard_at=r.parsed("scorecard_at", values.parse_weekly, None),
    )


#: what [quiet] break_through may list: alert kinds, a priority, VIP customers
BREAK_THROUGH = (
    "overdue",
    "escalated",
    "due_soon",
    "new",
    "reminder",
    "source_down",
    "urgent",
    "vip",
)


def _read_quiet(r: _Reader) -> QuietRules:
    r.check_unknown(schema.QUIET)
    kinds = r.value(schema.declared("quiet", "break_through"))
    for i, kind in enumerate(kinds):
        if kind not in BREAK_THROUGH:
            shown = ", ".join(BREAK_THROUGH)
            said = N_("{kind!r} is not {kinds}")
            raise ConfigError(r.file, (*r.key("break_through"), i), said, kind=kind, kinds=shown)
    return QuietRules(
        away_after=r.value(schema.declared("quiet", "away_after")),
        break_through=tuple(kinds),
        max_interruptions=int(r.value(schema.declared("quiet", "max_interruptions"))),
        gather_every=r.value(schema.declared("quiet", "gather_every")),
        follow_desktop=bool(r.value(schema.declared("quiet", "follow_desktop"))),
    )


def _read_vip(r: _Reader, i: int) -> VipRule:
    vr = r.item("vip", i, '{ domain = "acme.com", window = "30m" }')
    vr.check_unknown(schema.VIP)
    who = {key: vr.text(key).strip().lower() for key in ("email", "domain", "organization")}
    if not any(who.values()):
        raise ConfigError(
            r.file, vr.at, N_("matches nobody; give an email, domain or organization")
        )
    if who["email"] and "@" not in who["email"]:
        raise vr.error("email", N_("{value!r} is not an email address"), value=who["email"])
    return VipRule(
        **who,
        window=vr.duration(schema.declared("vip", "window")),
        sound=_sound(vr, "urgent"),
        escalate=bool(vr.value(schema.declared("vip", "escalate"))),
    )


def _read_team(r: _Reader, sources: tuple[SourceConfig, ...]) -> Team | None:
    """``[team]`` (None when absent); a ``kind = "team"`` source needs it."""
    r.check_unknown(schema.TEAM)
    if not r.table:
        for i, src in enumerate(sources):
            if src.kind == "team":
                raise ConfigError(r.file, ("sources", i, "kind"), N_("needs a [team] table"))
        return None
    value = {opt.key: r.value(opt) for opt in schema.TEAM}
    for key in ("broker", "name", "user"):
        if not value[key]:
            raise r.error(key, N_("is missing; [team] needs broker, name and user"))
    if value["ca"]:
        value["ca"] = _ca_bundle(r, "ca", value["ca"])
    return Team(**value)


def from_dict(data: dict[str, Any], path: Path | None = None) -> Config:
    """Validate a parsed TOML document. Raises ConfigError naming the first problem found."""
    r = _Reader(path, data)
    r.check_unknown(TOP_LEVEL_KEYS)
    role = r.value(schema.declared("", "role"))
    sources = _read_sources(path, r, role)
    return Config(
        path=path,
        role=role,
        sources=sources,
        windows=_read_windows(r.sub("windows")),
        business_hours=_read_business_hours(r.sub("business_hours")),
        alerts=_read_alerts(r.sub("alerts")),
        escalation=_read_escalation(r.sub("escalation")),
        retention=r.value(schema.declared("", "retention")),
        start_at_login=bool(r.value(schema.declared("", "start_at_login"))),
        quiet=_read_quiet(r.sub("quiet")),
        vips=tuple(_read_vip(r, i) for i in range(len(r.get("vip", list, [])))),
        team=_read_team(r.sub("team"), sources),
        language=r.value(schema.declared("", "language")),
        raw=data,
    )


def load(path: Path) -> Config:
    """Read and validate the config file at ``path``."""
    return from_dict(read_toml(path), path)


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
        with path.open("rb") as f:
            previous: bytes | None = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        previous = None
    if previous is not None and previous != text:
        # The file being replaced may be one the person edited by hand (even a broken one the
        # Settings window could not read): keep it next to the new one rather than lose it.
        backup = path.with_name(path.name + ".bak")
        if len(previous) > MAX_FILE_BYTES:  # too large to be read whole: moved aside, unread
            os.replace(path, backup)
        else:
            atomic_write(backup, previous)
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
