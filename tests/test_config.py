from datetime import time, timedelta
from pathlib import Path

import pytest

from agent import config as cfg
from agent.config import ConfigError, load, parse_days, parse_duration

VALID = """
role = "owner"

[[sources]]
name = "Demo"
kind = "demo"
interval = "30s"
categories = ["Billing", "Sales"]

[windows]
default = "2h"
rules = [
  { priority = "urgent", window = "10m" },
  { category = "Sales", window = "30m" },
]
use_helpdesk_due = false

[business_hours]
timezone = "Europe/London"
days = "Mon-Fri"
hours = "09:00-17:30"
holidays = "GB"

[alerts]
sound = "chime"
remind_every = "15m"
due_soon = 0.75
quiet_hours = "22:00-07:00"

[escalation]
levels = [
  { after = "0m", notify = ["owner-desktop", "mailto://owner@example.com"] },
  { after = "30m", notify = ["ntfy://example-topic"] },
]
repeat_every = "1h"
sent_by = "owner"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ticketbell.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_url_with_a_port_and_an_address_in_its_query_carries_no_password(tmp_path):
    """Read by a pattern, the port's colon and the address's @ were taken for user:password@
    and the source refused: "must not contain a password"."""
    url = "https://desk.example.com:8443?assignee=me@example.com"
    c = load(write(tmp_path, ZENDESK + f'url = "{url}"\n'))
    assert c.sources[0].url == url
    with pytest.raises(ConfigError, match="must not contain a password"):
        load(write(tmp_path, ZENDESK + 'url = "https://me:pw@desk.example.com:8443"\n'))


def test_a_full_config_loads_with_every_section(tmp_path):
    c = load(write(tmp_path, VALID))
    assert c.role == "owner"
    (src,) = c.sources
    assert (src.name, src.kind, src.interval) == ("Demo", "demo", timedelta(seconds=30))
    assert src.categories == ("Billing", "Sales")
    assert c.windows.default == timedelta(hours=2)
    assert [r.window for r in c.windows.rules] == [timedelta(minutes=10), timedelta(minutes=30)]
    assert c.windows.use_helpdesk_due is False
    assert c.business_hours is not None
    assert c.business_hours.days == frozenset(range(5))
    assert (c.business_hours.start, c.business_hours.end) == (time(9), time(17, 30))
    assert c.alerts.quiet_hours == (time(22), time(7))
    assert c.alerts.due_soon == 0.75
    assert [lvl.after for lvl in c.escalation.levels] == [timedelta(0), timedelta(minutes=30)]
    assert c.escalation.repeat_every == timedelta(hours=1)


@pytest.mark.parametrize("hours", ["18:00-00:00", "18:00-24:00"])
def test_business_hours_to_00_00_run_until_midnight(tmp_path, hours):
    """The hint (README, Settings) says "To 00:00 means until midnight", but a file with
    hours = "18:00-00:00" was refused: "must end after it starts"."""
    text = VALID.replace('hours = "09:00-17:30"', f'hours = "{hours}"')
    c = load(write(tmp_path, text))
    assert c.business_hours is not None
    assert (c.business_hours.start, c.business_hours.end) == (time(18), time.max)
    from datetime import datetime, timezone

    from agent.policy import add_business_time

    # Monday 18:30 London (UTC in winter) + 5 h of business time: 5 h 30 min to midnight
    monday = datetime(2026, 11, 30, 18, 30, tzinfo=timezone.utc)
    assert add_business_time(monday, timedelta(hours=5), c.business_hours) == datetime(
        2026, 11, 30, 23, 30, tzinfo=timezone.utc
    )


def test_role_decides_the_default_interval(tmp_path):
    base = '[[sources]]\nname = "D"\nkind = "demo"\n'
    assert load(write(tmp_path, base)).sources[0].interval == timedelta(minutes=2)
    owner = 'role = "owner"\n' + base
    assert load(write(tmp_path, owner)).sources[0].interval == timedelta(minutes=15)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", 90),
        ("10m", 600),
        ("2h", 7200),
        ("1d", 86400),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("2 hours", 7200),
        ("90 min", 5400),
        ("1 hour and 30 minutes", 5400),
        ("1 Day", 86400),
        ("45 secs", 45),
        ("2 weeks", 1209600),
        ("1 hr, 15 mins", 4500),
        ("500ms", 0.5),
    ],
)
def test_durations(text, expected):
    assert parse_duration(text) == timedelta(seconds=expected)


@pytest.mark.parametrize(
    "text", ["", "5x", "m10", "-5m", "10", 10, "1h 30", None, "2 hourses", "and", "90 mn"]
)
def test_bad_durations_say_what_is_allowed(text):
    with pytest.raises(ValueError, match=r"duration|negative"):
        parse_duration(text)


def test_days_wrap_around_the_week():
    assert parse_days("Sun-Thu") == frozenset({6, 0, 1, 2, 3})
    assert parse_days("Mon,Wed,Fri") == frozenset({0, 2, 4})


SOURCE = '[[sources]]\nname = "D"\nkind = "demo"\n'
ZENDESK = '[[sources]]\nname = "Z"\nkind = "zendesk"\nuser = "a@b.example"\n'
URL = 'url = "https://acme.zendesk.com"\n'
TEAM = '[team]\nbroker = "mqtts://127.0.0.1:9"\nname = "acme"\nuser = "anna"\n'
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ('role = "boss"\n', "role", "not a role"),
        ("role = 3\n", "role", "must be a string"),
        ("colour = 1\n", "colour", "unknown key"),
        ("sources = 1\n", "sources", "must be a list"),
        ('[[sources]]\nkind = "demo"\n', "sources[0].name", "missing"),
        ('[[sources]]\nname = "D"\n', "sources[0].kind", "missing"),
        ('[[sources]]\nname = "D"\nkind = "nosuch"\n', "sources[0].kind", "unknown kind"),
        (SOURCE + 'interval = "5x"\n', "sources[0].interval", "not a duration"),
        (SOURCE + 'interval = "-1m"\n', "sources[0].interval", "negative"),
        (SOURCE + 'interval = "0s"\n', "sources[0].interval", "at least"),
        (SOURCE + 'interval = "400d"\n', "sources[0].interval", "longer than"),
        (SOURCE + "interval = 30\n", "sources[0].interval", "string"),
        (SOURCE + 'categories = "x"\ncategories2 = 1\n', "sources[0].categories2", "unknown key"),
        (SOURCE + "categories = [1]\n", "sources[0].categories[0]", "non-empty string"),
        (SOURCE + 'url = "example.com"\n', "sources[0].url", "not a URL"),
        (SOURCE + 'url = "https://u:pw@example.com"\n', "sources[0].url", "password"),
        (SOURCE + 'secret_env = "NOT A NAME"\n', "sources[0].secret_env", "environment variable"),
        (SOURCE + 'verify = "no-such-ca.pem"\n', "sources[0].verify", "does not exist"),
        (SOURCE + "timeout = 0\n", "sources[0].timeout", "out of range"),
        (SOURCE + "timeout = 1e9\n", "sources[0].timeout", "out of range"),
        (SOURCE + 'proxy = "ftp://x"\n', "sources[0].proxy", "proxy URL"),
        (SOURCE + SOURCE, "sources[1].name", "used twice"),
        # a kind's own checks run when the file is read, not first when the source is built
        (
            '[[sources]]\nname = "M"\nkind = "imap"\nuser = "a@b.example"\n',
            "sources[0].url",
            "mail",
        ),
        (
            '[[sources]]\nname = "J"\nkind = "json"\nurl = "https://x.example"\n'
            'fields = { id = "id", ticket = "t" }\n',
            "sources[0].fields.ticket",
            "not a ticket field",
        ),
        (
            '[[sources]]\nname = "J"\nkind = "json"\nurl = "https://x.example"\n'
            'fields = { id = "id" }\n',
            "sources[0].fields.created",
            "is missing",
        ),
        (
            '[[sources]]\nname = "J"\nkind = "json"\nurl = "https://x.example"\n'
            'fields = { id = "id", created = "at" }\nwaiting_statuses = ["open"]\n',
            "sources[0].fields.status",
            "needed to filter by waiting_statuses",
        ),
        # a kind read over HTTP needs an http(s) address; the config's own check takes imaps://
        (ZENDESK + 'url = "ftp://x"\n', "sources[0].url", "must start with https://"),
        (ZENDESK + 'url = "imaps://x.example"\n', "sources[0].url", "must start with https://"),
        # a token in the url's query would sit in the config file
        (
            '[[sources]]\nname = "F"\nkind = "freescout"\n'
            'url = "https://help.example.com/?api_key=pasted-in-the-url-77"\n',
            "sources[0].url",
            "must not carry a token (api_key=…); store it in the keyring instead",
        ),
        (
            '[[sources]]\nname = "J"\nkind = "json"\nurl = "ftp://x.example"\n'
            'fields = { id = "id", created = "at" }\n',
            "sources[0].url",
            "must start with https://",
        ),
        # the sign-in options are checked when the file is read, not first by `ticketbell signin`
        (ZENDESK + URL + 'auth = "oath"\n', "sources[0].auth", "'oath' is not a way to sign in"),
        (ZENDESK + URL + 'auth = "oauth"\n', "sources[0].client_id", "is missing"),
        (
            '[[sources]]\nname = "M"\nkind = "imap"\nuser = "a@b.example"\nauth = "oauth"\n'
            'provider = "microsoft"\n',
            "sources[0].client_id",
            "is missing",
        ),
        (
            '[[sources]]\nname = "M"\nkind = "imap"\nuser = "a@b.example"\nauth = "oauth"\n'
            'provider = "custom"\nclient_id = "c"\n',
            "sources[0].issuer",
            "is missing",
        ),
        (
            '[[sources]]\nname = "M"\nkind = "imap"\nuser = "a@b.example"\nauth = "oauth"\n'
            'provider = "custom"\nissuer = "https://login.example"\nclient_id = "c"\n',
            "sources[0].url",
            "set url to the mail server",
        ),
        (ZENDESK + URL + 'auth = "oauth"\nprovider = "okta"\n', "sources[0].provider", "custom"),
        ('[windows]\ndefault = "soon"\n', "windows.default", "not a duration"),
        ('[windows]\nrules = [ { window = "5m" } ]\n', "windows.rules[0]", "matches nothing"),
        (
            '[windows]\nrules = [ { priority = "meh", window = "5m" } ]\n',
            "windows.rules[0].priority",
            "low, normal",
        ),
        ('[windows]\nrules = [ { priority = "low" } ]\n', "windows.rules[0].window", "missing"),
        (
            '[business_hours]\ntimezone = "Mars/Olympus"\n',
            "business_hours.timezone",
            "not a time zone",
        ),
        (
            '[business_hours]\ntimezone = "UTC"\ndays = "Funday"\n',
            "business_hours.days",
            "not a day",
        ),
        ('[business_hours]\ntimezone = "UTC"\nhours = "9-5"\n', "business_hours.hours", "HH:MM"),
        (
            '[business_hours]\ntimezone = "UTC"\nhours = "17:00-09:00"\n',
            "business_hours.hours",
            "end after",
        ),
        (
            '[business_hours]\ntimezone = "UTC"\nholidays = "XX"\n',
            "business_hours.holidays",
            "country code",
        ),
        ('[business_hours]\ndays = "Mon-Fri"\n', "business_hours.timezone", "missing"),
        ('[alerts]\nsound = "/etc/passwd"\n', "alerts.sound", ".wav"),
        ('[alerts]\nsound = "../../nowhere.wav"\n', "alerts.sound", "does not exist"),
        ('[alerts]\nsound = ""\n', "alerts.sound", "no .wav file chosen"),
        ("[alerts]\nvolume = 7\n", "alerts.volume", "out of range"),
        ("[alerts]\ndue_soon = 1.5\n", "alerts.due_soon", "out of range"),
        ('[alerts]\nquiet_hours = "late"\n', "alerts.quiet_hours", "time range"),
        (
            '[escalation]\nlevels = [ { after = "0m", notify = ["pigeon"] } ]\n',
            "escalation.levels[0].notify[0]",
            "not a channel",
        ),
        ('[escalation]\nlevels = [ { after = "0m" } ]\n', "escalation.levels[0].notify", "missing"),
        ('[escalation]\nsent_by = "everyone"\n', "escalation.sent_by", "not a role"),
        (
            '[escalation]\nlevels = [ { after = "1h", notify = ["owner-desktop"] },'
            ' { after = "0m", notify = ["owner-desktop"] } ]\n',
            "escalation.levels",
            "in order",
        ),
        ('retention = "1m"\n', "retention", "at least"),
        (TEAM + 'ca = "/nonexistent.pem"\n', "team.ca", "does not exist"),
        (TEAM + 'ca = "ticketbell.toml"\n', "team.ca", "not a CA bundle"),
    ],
)
def test_every_error_names_the_file_and_the_key(tmp_path, text, key, words):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load(path)
    message = str(err.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert words in message
    assert "\n" not in message


def test_broken_toml_and_missing_file_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(write(tmp_path, "role = \n"))
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "nope.toml")


def test_a_file_with_a_byte_order_mark_loads_and_an_unreadable_one_is_said_in_words(tmp_path):
    """Windows Notepad starts a UTF-8 file with a BOM; a folder or a Latin-1 file is said in
    words, not by the name of an exception."""
    path = tmp_path / "ticketbell.toml"
    path.write_bytes(b"\xef\xbb\xbf" + VALID.encode("utf-8"))
    assert load(path).role == "owner"
    path.write_bytes('role = "owner"\n# café\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as err:
        load(path)
    said = "cannot read the file: it is not UTF-8 text; save it with the UTF-8 encoding"
    assert str(err.value) == f"{path}: {said}"
    with pytest.raises(ConfigError) as err:
        load(tmp_path)
    assert str(err.value) == f"{tmp_path}: cannot read the file: Is a directory"


def test_the_team_brokers_ca_is_checked_and_found_next_to_the_config(tmp_path):
    """[team] ca is a CA bundle file as a source's verify is, checked when the file is read."""
    (tmp_path / "broker-ca.pem").write_text(PEM, encoding="utf-8")
    c = load(write(tmp_path, TEAM + 'ca = "broker-ca.pem"\n'))
    assert c.team is not None and c.team.ca == str(tmp_path / "broker-ca.pem")
    assert load(write(tmp_path, TEAM)).team == cfg.Team("mqtts://127.0.0.1:9", "acme", "anna")


def test_secrets_in_the_config_are_not_echoed(tmp_path):
    path = write(tmp_path, SOURCE + 'token = "s3cr3t-value-123"\n')
    with pytest.raises(ConfigError) as err:
        load(path)
    assert "s3cr3t" not in str(err.value)
    assert "sources[0].token" in str(err.value)


def test_a_relative_ca_bundle_is_found_next_to_the_config(tmp_path):
    (tmp_path / "ca.pem").write_text(
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", encoding="utf-8"
    )
    c = load(write(tmp_path, SOURCE + 'verify = "ca.pem"\n'))
    assert c.sources[0].verify == str(tmp_path / "ca.pem")


def test_save_validates_and_round_trips(tmp_path):
    data = {"role": "owner", "sources": [{"name": "D", "kind": "demo", "interval": "1m"}]}
    path = tmp_path / "sub" / "ticketbell.toml"
    saved = cfg.save(data, path)
    assert saved.path == path
    assert load(path).sources[0].interval == timedelta(minutes=1)
    with pytest.raises(ConfigError):
        cfg.save({"role": "boss"}, path)
    assert load(path).role == "owner"  # a refused save leaves the file as it was


def test_demo_config_is_valid_and_short():
    c = cfg.demo_config()
    assert c.sources[0].kind == "demo"
    assert c.windows.default <= timedelta(minutes=15)


def test_save_keeps_the_replaced_file_even_a_broken_one(tmp_path):
    path = tmp_path / "ticketbell.toml"
    path.write_text("role = \n# my hand-written notes\n", encoding="utf-8")
    cfg.save({"sources": [{"name": "D", "kind": "demo"}]}, path)
    assert load(path).sources[0].name == "D"
    assert "# my hand-written notes" in (tmp_path / "ticketbell.toml.bak").read_text("utf-8")


def test_save_keeps_a_replaced_file_too_large_to_read_whole(tmp_path):
    path = tmp_path / "ticketbell.toml"
    big = b"# notes\n" * (cfg.MAX_FILE_BYTES // 8 + 1)
    path.write_bytes(big)
    cfg.save({"sources": [{"name": "D", "kind": "demo"}]}, path)
    assert load(path).sources[0].name == "D"
    assert (tmp_path / "ticketbell.toml.bak").read_bytes() == big


def test_an_error_carries_its_key_as_a_path(tmp_path):
    """The settings window puts a message next to its field by this path, not by a regex."""
    path = tmp_path / "ticketbell.toml"
    path.write_text(SOURCE + SOURCE.replace('"Demo"', '"Other"') + 'interval = "5x"\n')
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.parts == ("sources", 1, "interval")
    assert caught.value.source_index == 1
    path.write_text('[escalation]\nlevels = [ { after = "0m", notify = [""] } ]\n')
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.parts == ("escalation", "levels", 0, "notify", 0)
    assert caught.value.key == "escalation.levels[0].notify[0]"
    assert caught.value.source_index is None


def test_the_defaults_are_the_declared_ones():
    """One declaration per key: what an empty file means is what the declarations say."""
    from agent.config import schema

    empty = cfg.from_dict({"sources": [{"name": "D", "kind": "demo"}]})
    assert empty.alerts.remind_every == parse_duration(
        schema.declared("alerts", "remind_every").default
    )
    assert empty.windows.default == parse_duration(schema.declared("windows", "default").default)
    assert empty.escalation.blind_after == parse_duration(
        schema.declared("escalation", "blind_after").default
    )
    assert empty.sources[0].interval == parse_duration(schema.DEFAULT_INTERVAL["assistant"])
    owner = cfg.from_dict({"role": "owner", "sources": [{"name": "D", "kind": "demo"}]})
    assert owner.sources[0].interval == parse_duration(schema.DEFAULT_INTERVAL["owner"])
    assert cfg.Alerts() == empty.alerts and cfg.Escalation() == empty.escalation


def test_the_readme_lists_every_option_as_declared():
    """The README's option lists are generated (scripts/readme-options.py); a key added,
    removed or given a new default without running it fails here."""
    from agent.config import schema

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    begin, end = "<!-- options:begin -->\n", "<!-- options:end -->"
    assert begin in readme and end in readme, "the README lost its generated option lists"
    listed = readme.split(begin, 1)[1].split(end, 1)[0]
    assert listed == schema.markdown(), "run scripts/readme-options.py"


def test_a_connection_test_reads_and_builds_the_source_as_the_agent_does():
    """Settings' "Test connection": the config's own checks first, the field named as the
    form names it; then the source the engine would build, fetched once."""
    from agent.connection import try_connection

    demo = try_connection({"name": "Demo", "kind": "demo"})
    assert demo.ok and demo.message.startswith("Connected: ") and len(demo.categories or []) == 4
    imap = try_connection({"name": "Mail", "kind": "imap", "user": "a@b.example"}, "pw-123456")
    assert not imap.ok
    assert imap.message.startswith("Cannot test yet: Mail server: is missing")
    bad = try_connection({"name": "Demo", "kind": "demo", "interval": "soon"})
    assert not bad.ok and bad.message.startswith("Cannot test yet: Check every: ")


def test_a_kinds_option_is_checked_by_its_declared_check(monkeypatch):
    """A kind's Option may carry a check, run when the file is read like the common keys'."""
    from dataclasses import replace as changed

    from agent.sources import source_class

    cls = source_class("json")
    declared = next(o for o in cls.optional if o.key == "items")
    refusing = changed(declared, check=lambda value: "" if value == "ok" else "must be ok")
    others = tuple(o for o in cls.optional if o is not declared)
    monkeypatch.setattr(cls, "optional", (refusing, *others))
    fields = {"id": "id", "created": "at"}
    base = {"name": "J", "kind": "json", "url": "https://x.example", "fields": fields}
    cfg.from_dict({"sources": [{**base, declared.key: "ok"}]})
    with pytest.raises(ConfigError, match=f"sources\\[0\\].{declared.key}: must be ok"):
        cfg.from_dict({"sources": [{**base, declared.key: "not ok"}]})
