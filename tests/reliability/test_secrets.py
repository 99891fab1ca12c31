"""Secrets: the suite-wide scan catches a leak; TLS verification off is never silent; the
provisioning export never carries a secret (the keyring's or a channel's)."""

from __future__ import annotations

import base64
import logging
import os
import ssl
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import trustme
from pytest_httpserver import HTTPServer

from agent import config, secrets
from tests import secretscan
from tests.conftest import run_cli
from tests.fakes.github import FakeGitHub

UTC = timezone.utc


def test_the_scan_finds_a_secret_planted_in_a_file_a_log_line_and_an_error(tmp_path: Path):
    planted = "planted-LEAK-4f0c9a2e77"  # never registered: the session scan must not see it
    data = tmp_path / "data" / "queue.json"
    data.parent.mkdir()
    data.write_text('{"tickets": {}}\n{"note": "Bearer ' + planted + '"}\n')
    clean = tmp_path / "config.toml"
    clean.write_text('[[sources]]\nname = "desk"\nsecret_env = "DESK_TOKEN"\n')
    error = ("AuthError message", f"401 from desk.example (token {planted} refused)")

    found = secretscan.scan([planted], [tmp_path], [error, ("stderr", "all fine")])

    assert [str(f).split(" found in ")[1] for f in found] == [
        f"{data}:2",
        "AuthError message",
    ]
    assert planted not in str(found[0])  # the report itself does not repeat the secret


def test_the_suite_log_is_written_redacted_and_the_scan_sees_a_secret_logged_before_it_was_known(
    tmp_path: Path,
):
    known = "known-secret-0c3e81d5aa"
    late = "late-secret-9b27f4e1cc"
    secrets.remember(known)
    path = tmp_path / "suite.log"
    handler = secretscan.log_handler(path)
    log = logging.getLogger("planted.test")
    log.propagate = False  # kept out of the session's own log: this one is meant to leak
    log.addHandler(handler)
    try:
        log.warning("Authorization: Bearer %s", known)
        log.warning("X-Api-Key: %s", late)  # not registered yet when written
    finally:
        log.removeHandler(handler)
        handler.close()

    text = path.read_text()
    assert known not in text and "Bearer •••" in text
    assert [f.secret for f in secretscan.scan([known, late], [tmp_path], [])] == [late]


# ------------------------------------------------------------------ TLS verification off


@pytest.fixture
def tls_github() -> Iterator[tuple[HTTPServer, FakeGitHub]]:
    """A fake GitHub over HTTPS with a certificate nobody trusts (a private CA's)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(context)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    try:
        yield server, FakeGitHub(server, TLS_TOKEN)
    finally:
        server.clear()
        server.stop()


TLS_TOKEN = secretscan.register_secret("ghp_tlsOFFtoken5e8d2c19b7a4")


def test_tls_verification_off_is_warned_about_on_every_run(tls_github, tmp_path, cli_env):
    server, fake = tls_github
    fake.add_issue(7, "Cannot log in", created=datetime.now(UTC) - timedelta(minutes=5))
    conf = tmp_path / "ticketbell.toml"
    conf.write_text(
        f"""
[[sources]]
name = "Desk"
kind = "github"
url = "https://127.0.0.1:{server.port}"
repository = "acme/tool"
secret_env = "DESK_TOKEN"
verify = false
"""
    )
    cli_env["DESK_TOKEN"] = TLS_TOKEN
    log = Path(cli_env["XDG_STATE_HOME"]) / "ticketbell" / "log" / "ticketbell.log"
    warning = "Desk: TLS certificate verification is OFF for 127.0.0.1"

    quiet = run_cli(["check", "--config", str(conf)], cli_env)
    loud = run_cli(["check", "-v", "--config", str(conf)], cli_env)

    # verification off really is off (the untrusted certificate is accepted) ...
    assert quiet.returncode == loud.returncode == 1, quiet.stderr  # 1: a ticket is waiting
    assert "Cannot log in" in quiet.stdout
    # ... and each run says so in the log; with -v on stderr too
    assert log.read_text().count(warning) == 2
    assert warning in loud.stderr
    assert TLS_TOKEN not in log.read_text() + quiet.stderr + loud.stderr


def test_verify_only_takes_true_false_or_an_existing_ca_bundle(tmp_path, cli_env):
    conf = tmp_path / "ticketbell.toml"
    conf.write_text('[[sources]]\nname = "Desk"\nkind = "demo"\nverify = "no"\n')
    result = run_cli(["config", "validate", "--config", str(conf)], cli_env)
    assert result.returncode != 0
    assert "verify" in result.stderr and "CA bundle 'no' does not exist" in result.stderr


# ------------------------------------------------------------------ provisioning export

KEYRING_SECRETS = {
    "Support desk": "fs-apikey-7c1d9e2b44f0a8",
    "GitHub": "ghp_exportTOKENa1b2c3d4e5f6",
    "owner-mail": "mailtos://owner:Pw-export-93kd71@mail.example.com?to=boss@example.com",
    "owner-chat": "slack://TokenA8x1/TokenB9y2/TokenC0z3Q7/#support",
}


def test_the_provisioning_export_carries_no_secret(tmp_path, cli_env):
    for name, value in KEYRING_SECRETS.items():
        stored = run_cli(["secret", "set", name], cli_env, input=value + "\n")
        assert stored.returncode == 0, stored.stderr
    owner = tmp_path / "owner.toml"
    owner.write_text(
        """
role = "owner"

[[sources]]
name = "Support desk"
kind = "freescout"
url = "https://help.example.com"

[[sources]]
name = "GitHub"
kind = "github"
repository = "acme/tool"

[escalation]
levels = [
  { after = "30m", notify = ["owner-desktop", "keyring:owner-mail"] },
  { after = "2h", notify = ["keyring:owner-chat"] },
]
"""
    )
    shown = run_cli(["config", "show", "--config", str(owner)], cli_env)
    assert shown.stdout.count("in keyring") >= 2, shown.stdout  # the secrets really are there

    exported = run_cli(["config", "export", "--config", str(owner)], cli_env)

    assert exported.returncode == 0, exported.stderr
    for name, value in KEYRING_SECRETS.items():
        assert value not in exported.stdout + exported.stderr
        assert f"ticketbell secret set {name!r}" in exported.stdout
    for part in ("Pw-export-93kd71", "TokenA8x1", "a1b2c3d4e5f6"):
        assert part not in exported.stdout
    data = config.tomllib.loads(exported.stdout)
    assert data["role"] == "assistant"
    assert data["escalation"]["levels"][1]["notify"] == ["keyring:owner-chat"]


# ------------------------------------------------------------------ channel tokens in any part

# Written into config and provisioning files on purpose, so not registered with the scan (it
# would find them in those files): each test asserts itself that they go nowhere else.
CHANNEL_TOKEN = "hdrTOKEN-5b1e90c7d2"
CHANNEL_URLS = {
    "header": f"json://hooks.example.com/in?+X-Api-Key={CHANNEL_TOKEN}",
    "parameter": f"json://hooks.example.com/in?-apikey={CHANNEL_TOKEN}",
    "form-header": f"form://hooks.example.com/in?+Authorization=Bearer%20{CHANNEL_TOKEN}",
    "xml-parameter": f"xml://hooks.example.com/in?-access_token={CHANNEL_TOKEN}",
    "private-argument": f"ntfy://ntfy.example.com/alerts?token=tk_{CHANNEL_TOKEN}",
    "path-token": f"gotify://push.example.com/{CHANNEL_TOKEN}",
}


def _channel_config(url: str) -> str:
    return (
        '[[sources]]\nname = "Desk"\nkind = "demo"\n\n[escalation]\n'
        f'levels = [{{ after = "30m", notify = ["{url}"] }}]\n'
    )


@pytest.mark.parametrize("form", list(CHANNEL_URLS))
def test_a_channel_token_in_any_part_of_the_url_is_refused_and_never_exported(
    form: str, tmp_path: Path, cli_env: dict[str, str], record_property
):
    record_property("fault", "channel token in a header, parameter or path")
    conf = tmp_path / "ticketbell.toml"
    conf.write_text(_channel_config(CHANNEL_URLS[form]))
    team = tmp_path / "team.toml"
    team.write_text(_channel_config(CHANNEL_URLS[form]))

    validated = run_cli(["config", "validate", "--config", str(conf)], cli_env)
    exported = run_cli(["config", "export", "--config", str(conf)], cli_env)
    imported = run_cli(["--import", str(team)], cli_env)

    accepted = [
        validated.returncode == 0,
        CHANNEL_TOKEN in exported.stdout,
        imported.returncode == 0,
    ]
    record_property("channel_tokens_accepted", sum(accepted))
    assert validated.returncode == 2, validated.stdout
    assert "escalation.levels[0].notify[0]" in validated.stderr
    assert "keyring:NAME" in validated.stderr
    assert exported.returncode == 2 and exported.stdout == ""
    assert imported.returncode == 2, imported.stdout
    assert not (Path(cli_env["XDG_CONFIG_HOME"]) / "ticketbell" / "ticketbell.toml").exists()
    for done in (validated, exported, imported):
        assert CHANNEL_TOKEN not in done.stdout + done.stderr


def test_harmless_headers_and_parameters_stay_allowed(tmp_path: Path):
    url = "json://hooks.example.com/in?+Content-Type=text/plain&-priority=high"
    conf = tmp_path / "ticketbell.toml"
    conf.write_text(_channel_config(url))
    assert config.load(conf).escalation.levels[0].notify == (url,)


def test_the_export_leaves_out_a_channel_url_with_a_header_token():
    raw = config.tomllib.loads(_channel_config(CHANNEL_URLS["header"]))
    loaded = config.from_dict(
        {**raw, "escalation": {"levels": [{"after": "30m", "notify": ["owner-desktop"]}]}}
    )
    exported = config.export_provisioning(replace(loaded, raw=raw))
    assert CHANNEL_TOKEN not in exported
    assert "escalation.levels[0].notify[0]" in exported  # named as left out


def test_a_keyring_webhook_token_never_reaches_the_verbose_log(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
):
    """apprise logs the whole URL ("Loaded JSON URL: …") while it loads the plugin: the token
    must be known to the redaction before that, not after."""
    from agent import escalation
    from agent.cli import _ConsoleFormatter

    # every long part of a keyring URL is redacted, its host too: kept to this test
    monkeypatch.setattr(secrets, "_known", set(secrets._known))
    token = secretscan.register_secret("kr-webhook-8d3f1a6c0e")
    httpserver.expect_request("/in").respond_with_data("ok")
    url = f"json://127.0.0.1:{httpserver.port}/in?+X-Api-Key={token}"
    import keyring

    keyring.set_password(secrets.SERVICE, "verbose-hook", url)  # as a fresh process finds it
    lines: list[str] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = lambda record: lines.append(handler.format(record))  # type: ignore[method-assign]
    handler.setFormatter(_ConsoleFormatter("%(levelname)s %(name)s %(message)s"))
    handler.addFilter(secrets.RedactingFilter())
    apprise_log = logging.getLogger("apprise")
    old_level = apprise_log.level
    apprise_log.setLevel(logging.DEBUG)
    apprise_log.addHandler(handler)
    try:
        assert escalation.send("keyring:verbose-hook", "t", "b") is None
    finally:
        apprise_log.removeHandler(handler)
        apprise_log.setLevel(old_level)
        secrets.delete("verbose-hook")
    assert any("Loaded JSON URL" in line for line in lines), lines
    assert not [line for line in lines if token in line]
    assert httpserver.log[0][0].headers["X-Api-Key"] == token  # it did go where it belongs


# ------------------------------------------------------------------ secrets as pasted

CR_TOKEN = "ghp_pastedWithCR0d4e7a91b2"


def test_a_token_pasted_with_a_line_end_is_stored_clean_and_never_logged(
    httpserver: HTTPServer, tmp_path: Path, cli_env: dict[str, str], record_property
):
    record_property("fault", "token stored with a trailing CR")
    fake = FakeGitHub(httpserver, CR_TOKEN)
    fake.add_issue(7, "Cannot log in", created=datetime.now(UTC) - timedelta(minutes=5))
    conf = tmp_path / "ticketbell.toml"
    conf.write_text(
        f'[[sources]]\nname = "Desk"\nkind = "github"\nurl = "{httpserver.url_for("")}"\n'
        'repository = "acme/tool"\n'
    )
    stored = run_cli(["secret", "set", "Desk"], cli_env, input=CR_TOKEN + "\r\n")
    checked = run_cli(["check", "-v", "--config", str(conf)], cli_env)

    assert stored.returncode == 0, stored.stderr
    assert checked.returncode == 1, checked.stderr  # 1: the ticket is waiting; the token works
    assert "Cannot log in" in checked.stdout
    log = Path(cli_env["XDG_STATE_HOME"]) / "ticketbell" / "log" / "ticketbell.log"
    assert CR_TOKEN not in checked.stdout + checked.stderr + log.read_text()


def test_a_token_with_a_control_character_inside_is_refused(cli_env: dict[str, str]):
    refused = run_cli(["secret", "set", "Desk"], cli_env, input="abcd\x1befgh-1234\n")
    assert refused.returncode == 2
    assert "control character" in refused.stderr and "abcd" not in refused.stderr
    assert "stored" not in refused.stdout


def test_the_base64_form_of_a_basic_auth_key_is_redacted():
    """Zendesk sends ``user/token:KEY`` and Freshdesk ``KEY:X`` as Basic auth: a server that
    echoes the header must not put the key in the log in either encoding."""
    key = secretscan.register_secret("zd-basic-key-3e9a0c7b51f2")
    secrets.remember(key)
    for pair in (f"agent@example.com/token:{key}", f"{key}:X", f"ab:{key}"):
        encoded = base64.b64encode(pair.encode()).decode()
        clean = secrets.redact(f"401: Authorization: Basic {encoded} was refused")
        assert encoded not in clean and "•••" in clean
        left = clean.split("Basic ")[1].split()[0].replace("•••", "")
        assert len(left) <= len(encoded) - len(key) * 4 // 3 + 8  # only the neighbours' bytes


# ------------------------------------------------------------------ files of this user only


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes; Windows folders inherit ACLs")
def test_data_log_and_config_files_are_this_users_only_under_umask_022(
    tmp_path: Path, cli_env: dict[str, str], record_property
):
    record_property("fault", "files readable by other users (umask 022)")
    team = tmp_path / "team.toml"
    team.write_text('[[sources]]\nname = "Demo"\nkind = "demo"\n')
    umask = {"preexec_fn": lambda: os.umask(0o022)}

    imported = run_cli(["--import", str(team)], cli_env, **umask)
    checked = run_cli(["check", "--demo"], cli_env, **umask)

    assert imported.returncode == 0, imported.stderr
    assert checked.returncode in (0, 1, 2), checked.stderr
    config_file = Path(cli_env["XDG_CONFIG_HOME"]) / "ticketbell" / "ticketbell.toml"
    data = Path(cli_env["XDG_DATA_HOME"]) / "ticketbell" / "demo"
    logs = Path(cli_env["XDG_STATE_HOME"]) / "ticketbell" / "log"
    made = [config_file, config_file.parent, data, *data.iterdir(), logs, *logs.iterdir()]
    record_property("files_readable_by_others", sum(bool(_mode(p) & 0o077) for p in made))
    assert _mode(config_file) == 0o600 and _mode(config_file.parent) == 0o700
    assert _mode(data) == 0o700 and _mode(data / "queue.json") == 0o600
    assert _mode(data / "queue.lock") == 0o600
    assert _mode(logs) == 0o700 and _mode(logs / "ticketbell.log") == 0o600


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links need privileges there")
def test_a_link_planted_for_the_lock_or_temporary_file_is_never_followed(
    tmp_path: Path, cli_env: dict[str, str], record_property
):
    """Another local user who can write the data folder (an old 0777 one) plants links where
    Ticketbell creates files: nothing is created or overwritten at their targets."""
    from agent.queue import QUEUE_FILE, atomic_write

    record_property("fault", "symbolic link planted for a lock or temporary file")
    data = tmp_path / "data"
    data.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    tmp_name = data / f".{QUEUE_FILE}.{os.getpid()}.tmp"
    tmp_name.symlink_to(victim)

    atomic_write(data / QUEUE_FILE, b"{}")
    (data / "queue.lock").symlink_to(tmp_path / "created-by-link")
    checked = run_cli(["check", "--demo", "--data-dir", str(data)], cli_env)

    assert victim.read_text() == "precious\n" and (data / QUEUE_FILE).read_bytes() == b"{}"
    assert not (tmp_path / "created-by-link").exists()
    assert checked.returncode == 3
    assert checked.stderr.startswith("UNKNOWN: cannot use the data folder:"), checked.stderr
    assert "Traceback" not in checked.stderr


@pytest.mark.skipif(
    sys.platform == "win32" or os.getuid() != 0, reason="giving a folder away needs root"
)
def test_a_data_folder_of_another_user_is_refused(tmp_path: Path, cli_env: dict[str, str]):
    data = tmp_path / "theirs"
    data.mkdir()
    os.chown(data, 65534, 65534)
    checked = run_cli(["check", "--demo", "--data-dir", str(data)], cli_env)
    assert checked.returncode == 3
    assert f"{data} belongs to another user (uid 65534)" in checked.stderr
    assert list(data.iterdir()) == []
