"""OAuth 2 sign-in against a local OAuth server, driven through the real flows, and IMAP XOAUTH2 /
OAUTHBEARER against a real Dovecot whose ``oauth2`` passdb asks that server about each token.

The person's part is done the way a person does it: the browser's redirect is followed with an
HTTP client, the device code is typed into the verification page with a form post.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Response

from agent import secrets as secret_store
from agent import signin
from agent.config import SourceConfig, from_dict, save
from agent.engine import make_source
from agent.sources.base import SignInNeeded
from agent.sources.imap import ImapSource
from tests import secretscan
from tests.conftest import ROOT, run_cli
from tests.fakes import imap as fake_imap
from tests.fakes.oauth import FakeOAuthServer
from tests.fakes.web import local_server

UTC = timezone.utc
CLIENT_ID = "ticketbell-test-client"

pytestmark = pytest.mark.skipif(not fake_imap.available(), reason="needs dovecot and openssl")


@pytest.fixture(scope="module")
def http() -> Iterator[HTTPServer]:
    with local_server() as server:
        yield server


@pytest.fixture(scope="module")
def dovecot(http: HTTPServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    server = fake_imap.Dovecot(
        tmp_path_factory.mktemp("dovecot-oauth"),
        introspection_url=f"http://127.0.0.1:{http.port}/introspect",
    )
    yield server
    server.stop()


@pytest.fixture
def account(dovecot: fake_imap.Dovecot) -> Iterator[tuple[str, fake_imap.Mailbox]]:
    password = secretscan.register_secret("mailbox-password-Xq83hd")
    user, password = dovecot.add_user(password)
    mailbox = fake_imap.Mailbox(dovecot, user, password)
    mailbox.create("Sent")
    yield user, mailbox
    mailbox.close()


@pytest.fixture
def oauth(http: HTTPServer, account: tuple[str, fake_imap.Mailbox]) -> FakeOAuthServer:
    http.clear()
    server = FakeOAuthServer(f"http://127.0.0.1:{http.port}", CLIENT_ID, account[0])
    http.expect_request(re.compile(".*")).respond_with_handler(
        lambda request: server.handle(request) or Response("not found", status=404)
    )
    return server


def imap_config(dovecot: fake_imap.Dovecot, user: str, oauth: FakeOAuthServer, name: str):
    return from_dict(
        {
            "sources": [
                {
                    "name": name,
                    "kind": "imap",
                    "url": f"imaps://127.0.0.1:{dovecot.tls_port}",
                    "user": user,
                    "verify": str(dovecot.ca),
                    "timeout": 10,
                    "auth": "oauth",
                    "provider": "custom",
                    "issuer": oauth.base,
                    "client_id": CLIENT_ID,
                }
            ]
        }
    )


def person_enters_code(said: list[str], done: threading.Event) -> None:
    """Read the instructions, open the page and type the code there, as a person would."""
    for _ in range(200):
        found = [re.search(r"open (\S+) and enter the code (\S+)\.", s) for s in said]
        if any(found):
            url, code = next(m for m in found if m).groups()
            page = requests.get(url, timeout=5)
            assert "user_code" in page.text
            requests.post(url, data={"user_code": code}, timeout=5).raise_for_status()
            return
        done.wait(0.05)
    raise AssertionError(f"no code was shown: {said}")


def device_sign_in(source: SourceConfig) -> str:
    said: list[str] = []
    done = threading.Event()
    person = threading.Thread(target=person_enters_code, args=(said, done))
    person.start()
    try:
        return signin.sign_in(source, said.append, method="device")
    finally:
        done.set()
        person.join()


# ------------------------------------------------------------------ the flows


def test_device_code_sign_in_keeps_only_the_refresh_token_in_the_keyring(
    dovecot, account, oauth
) -> None:
    user, mailbox = account
    source = imap_config(dovecot, user, oauth, "Device inbox").sources[0]
    said = device_sign_in(source)
    assert "Signed in" in said
    stored = secret_store.get("Device inbox")
    assert stored in oauth.refresh and oauth.refresh[stored].active
    assert oauth.calls == [signin.DEVICE_GRANT]


def test_browser_sign_in_with_pkce_through_the_loopback_redirect(dovecot, account, oauth) -> None:
    user, _ = account
    source = imap_config(dovecot, user, oauth, "Browser inbox").sources[0]
    visited: list[str] = []

    def browser(url: str) -> None:
        visited.append(url)
        page = requests.get(url, timeout=5)  # follows the 302 to http://127.0.0.1:<port>/
        assert "You can close this window" in page.text
        assert page.url.startswith("http://127.0.0.1:")

    said: list[str] = []
    assert "Signed in" in signin.sign_in(source, said.append, "browser", browser)
    assert "code_challenge_method=S256" in visited[0] and "code_challenge=" in visited[0]
    assert "Your browser opens the sign-in page" in said[0]
    assert secret_store.get("Browser inbox") in oauth.refresh
    assert oauth.calls == ["authorization_code"]


def test_a_refused_sign_in_says_so_and_stores_nothing(dovecot, account, oauth) -> None:
    user, _ = account
    source = imap_config(dovecot, user, oauth, "Refused inbox").sources[0]
    oauth.deny = True
    with pytest.raises(signin.SignInFailed, match="access_denied"):
        signin.sign_in(source, lambda _: None, "browser", lambda url: requests.get(url, timeout=5))
    with pytest.raises(secret_store.SecretUnavailable):
        secret_store.get("Refused inbox")


# ------------------------------------------------------------------ IMAP with a real Dovecot


def test_imap_reads_the_mailbox_with_xoauth2_renews_before_expiry_and_on_refusal(
    dovecot, account, oauth
) -> None:
    user, mailbox = account
    now = datetime.now(UTC).replace(microsecond=0)
    mailbox.append(subject="Printer on fire", arrived=now - timedelta(minutes=30))
    config = imap_config(dovecot, user, oauth, "Oauth inbox").sources[0]
    device_sign_in(config)
    clock = [now]
    source = make_source(config, lambda: clock[0])
    assert isinstance(source, ImapSource)
    try:
        snapshot = source.fetch(None)
        assert [t.subject for t in snapshot.tickets] == ["Printer on fire"]
        assert oauth.calls[-1] == "refresh_token"  # the first access token came from a refresh
        refreshes = oauth.calls.count("refresh_token")

        # An hour later the access token has expired; the next login renews it first.
        oauth.advance(3700)
        clock[0] = now + timedelta(seconds=3700)
        dovecot.doveadm("kick", user)  # the kept connection is gone: a new login is needed
        assert [t.subject for t in source.fetch(None).tickets] == ["Printer on fire"]
        assert oauth.calls.count("refresh_token") == refreshes + 1

        # The server stops accepting the token early (our clock thinks it is valid): one
        # refused login, one renewal, and the poll still succeeds.
        oauth.access.clear()
        dovecot.doveadm("kick", user)
        assert [t.subject for t in source.fetch(None).tickets] == ["Printer on fire"]
        assert oauth.calls.count("refresh_token") == refreshes + 2
    finally:
        source.close()


def test_a_revoked_sign_in_turns_into_sign_in_needed_and_stops_asking(
    dovecot, account, oauth
) -> None:
    user, _ = account
    config = imap_config(dovecot, user, oauth, "Revoked inbox").sources[0]
    device_sign_in(config)
    source = make_source(config, lambda: datetime.now(UTC))
    oauth.revoke_all()
    try:
        with pytest.raises(SignInNeeded) as info:
            source.fetch(None)
    finally:
        source.close()
    assert "sign-in needed" in str(info.value)
    assert "ticketbell signin 'Revoked inbox'" in str(info.value)
    calls = len(oauth.calls)
    # The refused refresh token is forgotten: the next poll asks nobody and says the same.
    with pytest.raises(SignInNeeded):
        make_source(config, lambda: datetime.now(UTC))
    assert len(oauth.calls) == calls


def test_sasl_answers_follow_the_rfcs() -> None:
    xoauth = signin_answer("XOAUTH2")
    assert xoauth[0] == b"user=a@example.com\x01auth=Bearer tok\x01\x01"
    assert xoauth[1] == b""  # the empty answer to the server's error challenge
    bearer = signin_answer("OAUTHBEARER")
    assert bearer[0] == b"n,a=a@example.com,\x01host=h\x01port=993\x01auth=Bearer tok\x01\x01"
    assert bearer[1] == b"\x01"  # RFC 7628 3.2.3


def signin_answer(mechanism: str) -> list[bytes]:
    from agent.sources.imap import sasl_oauth

    answer = sasl_oauth(mechanism, "a@example.com", "tok", "h", 993)
    return [answer(b""), answer(b"{}")]


# ------------------------------------------------------------------ the commands


def test_signin_command_then_check_reads_the_mailbox(
    dovecot, account, oauth, cli_env: dict[str, str], tmp_path: Path
) -> None:
    user, mailbox = account
    now = datetime.now(UTC).replace(microsecond=0)
    mailbox.append(subject="Where is my order", arrived=now - timedelta(minutes=5))
    config = imap_config(dovecot, user, oauth, "Support inbox")
    path = tmp_path / "config.toml"
    save(config.raw, path)
    cmd = [sys.executable, "-m", "agent", "signin", "Support inbox", "--config", str(path)]
    person = subprocess.Popen(
        cmd, env=cli_env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert person.stdout is not None
    said = [person.stdout.readline()]
    person_enters_code(said, threading.Event())
    out, err = person.communicate(timeout=60)
    secretscan.TEXTS.append(("ticketbell signin", said[0] + out + err))
    assert person.returncode == 0, err
    assert "Signed in" in out
    done = run_cli(["check", "--config", str(path)], cli_env)
    assert done.returncode == 1, done.stderr  # 1: something waits
    assert "Support inbox (imap): 1 waiting — ok" in done.stdout
    assert "Where is my order" in done.stdout

    oauth.revoke_all()
    done = run_cli(["check", "--config", str(path)], cli_env)
    assert done.returncode == 3
    assert "sign-in needed" in done.stdout

    done = run_cli(["signout", "Support inbox", "--config", str(path)], cli_env)
    assert done.returncode == 0 and "Signed out" in done.stdout


def test_signin_refuses_a_source_that_does_not_sign_in(cli_env, tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    save({"sources": [{"name": "Desk", "kind": "demo"}]}, path)
    done = run_cli(["signin", "Desk", "--config", str(path)], cli_env)
    assert done.returncode == 2 and 'set auth = "oauth"' in done.stderr
    done = run_cli(["signin", "Nope", "--config", str(path)], cli_env)
    assert done.returncode == 2 and "no source named 'Nope'" in done.stderr
