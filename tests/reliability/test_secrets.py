"""Secrets: the suite-wide scan catches a leak; TLS verification off is never silent; the
provisioning export never carries a secret (the keyring's or a channel's)."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
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
