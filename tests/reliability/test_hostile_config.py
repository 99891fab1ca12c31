"""Hostile config values: path traversal, huge numbers, NaN and infinity (TOML has both),
negative intervals and names with control characters are refused with an error naming the file
and the key, never accepted, never a crash, and never quoting a byte of a file they point at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.config import ConfigError, load
from tests.conftest import run_cli

SOURCE = '[[sources]]\nname = "D"\nkind = "demo"\n'
SHADOW = "root:$6$saltsalt$hashhashhash:19000:0:99999:7:::\n"

CASES = [
    ('[alerts]\nsound = "../../../../etc/passwd"\n', "alerts.sound", ".wav"),
    ('[alerts]\nsound = "../outside/secret.txt"\n', "alerts.sound", ".wav"),
    ('[alerts]\nsound = "../outside/missing.wav"\n', "alerts.sound", "does not exist"),
    (SOURCE + 'verify = "../outside/secret.txt"\n', "sources[0].verify", "not a CA bundle"),
    (SOURCE + 'verify = "../outside"\n', "sources[0].verify", "not a file"),
    (SOURCE + 'verify = "../../../../../../no/such/ca.pem"\n', "sources[0].verify", "not a file"),
    (SOURCE + "timeout = 1e308\n", "sources[0].timeout", "out of range"),
    (SOURCE + "timeout = inf\n", "sources[0].timeout", "out of range"),
    (SOURCE + "timeout = -inf\n", "sources[0].timeout", "out of range"),
    (SOURCE + "timeout = nan\n", "sources[0].timeout", "out of range"),
    (SOURCE + "timeout = -5\n", "sources[0].timeout", "out of range"),
    (SOURCE + 'interval = "99999999d"\n', "sources[0].interval", "longer than 30d"),
    (SOURCE + 'interval = "-5m"\n', "sources[0].interval", "negative"),
    (SOURCE + 'interval = "1e400s"\n', "sources[0].interval", "not a duration"),
    (SOURCE + 'interval = "nan m"\n', "sources[0].interval", "not a duration"),
    (SOURCE + 'interval = "infs"\n', "sources[0].interval", "not a duration"),
    ('retention = "99999999d"\n', "retention", "longer than 30d"),
    ('retention = "999999999999999999999d"\n', "retention", "far too long"),
    ('[windows]\ndefault = "-5m"\n', "windows.default", "negative"),
    (
        '[escalation]\nlevels = [ { after = "99999999999999999w", notify = ["owner-desktop"] } ]\n',
        "escalation.levels[0].after",
        "far too long",
    ),
    ("[alerts]\nvolume = -1\n", "alerts.volume", "out of range"),
    ("[alerts]\nvolume = nan\n", "alerts.volume", "out of range"),
    ("[alerts]\nvolume = inf\n", "alerts.volume", "out of range"),
    ("[alerts]\ndue_soon = nan\n", "alerts.due_soon", "out of range"),
    ("[alerts]\ndue_soon = inf\n", "alerts.due_soon", "out of range"),
    ("[alerts]\ndue_soon = -0.5\n", "alerts.due_soon", "out of range"),
    ('[[sources]]\nname = "a\\u0000b"\nkind = "demo"\n', "sources[0].name", "NUL"),
    ('[[sources]]\nname = "Help\\nERROR forged"\nkind = "demo"\n', "sources[0].name", "control"),
    ('[[sources]]\nname = "Help\\u202edesk"\nkind = "demo"\n', "sources[0].name", "direction"),
    ('[[sources]]\nname = "Help\\u200fdesk"\nkind = "demo"\n', "sources[0].name", "direction"),
    ('[[sources]]\nname = "' + "x" * 5000 + '"\nkind = "demo"\n', "sources[0].name", "longer"),
]


@pytest.mark.parametrize(
    ("text", "key", "words"), CASES, ids=[f"{c[1]}-{i}" for i, c in enumerate(CASES)]
)
def test_hostile_values_are_refused_naming_file_and_key(
    text: str, key: str, words: str, tmp_path: Path, record_property: Any
) -> None:
    record_property("fault", "hostile config value")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SHADOW, encoding="utf-8")
    conf = tmp_path / "conf"
    conf.mkdir()
    path = conf / "ticketbell.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load(path)
    message = str(err.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert words in message, message
    assert "\n" not in message and "hashhash" not in message and "x" * 200 not in message


def test_a_source_name_with_path_separators_stays_a_name(tmp_path: Path) -> None:
    """Source names are keyring entries and labels, never file names: "../x" is just text."""
    path = tmp_path / "ticketbell.toml"
    path.write_text('[[sources]]\nname = "../../etc/A/B"\nkind = "demo"\n', encoding="utf-8")
    assert load(path).sources[0].name == "../../etc/A/B"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a = " + "[" * 1400 + "]" * 1400 + "\n", "nested too deeply"),
        ("a = " + "{b=" * 1000 + "1" + "}" * 1000 + "\n", "nested too deeply"),
        ("# " + "x" * (2 << 20) + "\n", "larger than 1 MiB"),
    ],
    ids=["arrays", "tables", "size"],
)
def test_a_bomb_of_a_file_is_one_clear_line(
    text: str, words: str, tmp_path: Path, cli_env: dict[str, str], record_property: Any
) -> None:
    """A 2.8 KB TOML nesting bomb raised RecursionError (a traceback); a huge file was read
    whole. Both, as a config and as a provisioning file: one line naming the file, exit 2/3."""
    record_property("fault", "TOML nesting bomb or oversized config")
    path = tmp_path / "ticketbell.toml"
    path.write_text(text, encoding="utf-8")

    validated = run_cli(["config", "validate", "--config", str(path)], cli_env)
    checked = run_cli(["check", "--config", str(path)], cli_env)
    imported = run_cli(["--import", str(path)], cli_env)

    assert (validated.returncode, checked.returncode, imported.returncode) == (2, 3, 2)
    for done in (validated, checked, imported):
        assert done.stderr.strip().splitlines() == [done.stderr.strip()], done.stderr[-500:]
        assert str(path) in done.stderr and words in done.stderr
        assert "Traceback" not in done.stderr


def test_a_proxy_password_is_refused_and_never_shown(tmp_path: Path) -> None:
    path = tmp_path / "ticketbell.toml"
    path.write_text(SOURCE + 'proxy = "http://me:Prx-pass-77d1@proxy.example.net:3128"\n')
    with pytest.raises(ConfigError) as err:
        load(path)
    assert str(err.value).startswith(f"{path}: sources[0].proxy: must not contain a user name")
    assert "Prx-pass-77d1" not in str(err.value)


@pytest.mark.parametrize(
    "template",
    [
        "https://mail.example.com/#search/{subject:>300000000}",
        "https://mail.example.com/#search/{message_id!r}",
        "https://mail.example.com/#search/{message_id:{subject}}",
        "https://mail.example.com/#search/{subject.__class__}",
        "https://mail.example.com/#search/{message_id",
    ],
)
def test_a_webmail_link_takes_only_plain_fields(template: str, record_property: Any) -> None:
    """A format spec built a 300 MB URL for every ticket: only {message_id} and {subject}."""
    from agent.config import SourceConfig
    from agent.sources.base import NotConfigured
    from agent.sources.imap import ImapSource

    record_property("fault", "webmail_url format spec")
    config = SourceConfig(
        name="Inbox",
        kind="imap",
        url="imaps://mail.example.com",
        user="help@example.com",
        options={"folder": "INBOX", "webmail_url": template},
    )
    with pytest.raises(NotConfigured, match=r"webmail_url may use \{message_id\} and \{subject\}"):
        ImapSource(config, "imap-secret")


def test_a_plain_webmail_link_still_works() -> None:
    from agent.config import SourceConfig
    from agent.sources.imap import ImapSource

    template = "https://mail.example.com/#search/rfc822msgid%3A{message_id}?q={{x}}"
    config = SourceConfig(
        name="Inbox",
        kind="imap",
        url="imaps://mail.example.com",
        user="help@example.com",
        options={"folder": "INBOX", "webmail_url": template},
    )
    assert ImapSource(config, "imap-secret").webmail == template
