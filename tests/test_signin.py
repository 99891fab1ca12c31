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
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Response

from agent import secrets as secret_store
from agent import signin
from agent.config import ConfigError, SourceConfig, from_dict, save
from agent.engine import make_source
from agent.sources.base import NotConfigured, SignInNeeded
from agent.sources.imap import ImapSource
from tests import secretscan
from tests.conftest import ROOT, run_cli
from tests.fakes import imap as fake_imap
from tests.fakes.oauth import FakeOAuthServer
from tests.fakes.web import local_server
from tests.fakes.zendesk import FakeZendesk

UTC = timezone.utc
CLIENT_ID = "ticketbell-test-client"


@pytest.fixture(scope="module")
def http() -> Iterator[HTTPServer]:
    with local_server() as server:
        yield server


@pytest.fixture(scope="module")
def dovecot(http: HTTPServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    if not fake_imap.available():  # a sign-in that was never tried must not read as passed
        pytest.fail("Dovecot and openssl are needed: `make test` installs them (system-deps.sh)")
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
    user, _ = account
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
        dovecot.kick(user)  # the kept connection is gone: a new login is needed
        assert [t.subject for t in source.fetch(None).tickets] == ["Printer on fire"]
        assert oauth.calls.count("refresh_token") == refreshes + 1

        # The server stops accepting the token early (our clock thinks it is valid): one
        # refused login, one renewal, and the poll still succeeds.
        oauth.access.clear()
        dovecot.kick(user)
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


def test_dovecot_accepts_the_xoauth2_answer_microsoft_and_google_need(
    dovecot, account, oauth
) -> None:
    """Microsoft 365 offers only XOAUTH2; the source prefers OAUTHBEARER where advertised, so
    this proves the XOAUTH2 answer on its own against the real server."""
    import imaplib
    import ssl

    from agent.sources.imap import sasl_oauth

    user, _ = account
    config = imap_config(dovecot, user, oauth, "Xoauth inbox").sources[0]
    device_sign_in(config)
    tokens = signin.tokens_for(config, secret_store.get("Xoauth inbox"))
    context = ssl.create_default_context(cafile=str(dovecot.ca))
    with imaplib.IMAP4_SSL("127.0.0.1", dovecot.tls_port, ssl_context=context) as conn:
        assert "AUTH=XOAUTH2" in conn.capabilities
        answer = sasl_oauth("XOAUTH2", user, tokens.current(), "127.0.0.1", dovecot.tls_port)
        assert conn.authenticate("XOAUTH2", answer)[0] == "OK"
    with imaplib.IMAP4_SSL("127.0.0.1", dovecot.tls_port, ssl_context=context) as conn:
        wrong = sasl_oauth("XOAUTH2", user, "at-not-a-token-at-all", "127.0.0.1", 0)
        with pytest.raises(imaplib.IMAP4.error):
            conn.authenticate("XOAUTH2", wrong)


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


def test_a_sign_in_servers_lifetime_is_bounded() -> None:
    """An ``expires_in`` of "inf" or 1e300 would overflow timedelta (a crash, not a message)."""
    from agent.auth.tokens import MAX_SERVER_SECONDS, seconds_or_none

    assert seconds_or_none(3600) == 3600.0
    assert seconds_or_none("inf") == MAX_SERVER_SECONDS
    assert seconds_or_none(1e300) == MAX_SERVER_SECONDS
    assert seconds_or_none("nan") is None
    assert seconds_or_none("0") is None
    assert seconds_or_none("soon") is None


def test_a_device_codes_absurd_interval_and_expiry_are_bounded(oauth) -> None:
    """An interval of a year would leave the sign-in asking once a year (or never)."""
    from agent.auth.flows import MAX_DEVICE_INTERVAL, MAX_DEVICE_WAIT, start_device_code

    oauth.device_interval, oauth.device_expires_in = 31_536_000, "inf"
    table = {"name": "Inbox", "kind": "imap", "url": "imaps://127.0.0.1:1", "user": "a@b.test"}
    table |= {"auth": "oauth", "provider": "custom", "issuer": oauth.base, "client_id": CLIENT_ID}
    device = start_device_code(signin.client_for(from_dict({"sources": [table]}).sources[0]))
    assert device.interval == MAX_DEVICE_INTERVAL and device.expires_in == MAX_DEVICE_WAIT


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


# ------------------------------------------------------------------ Zendesk


@pytest.fixture
def zendesk(http: HTTPServer) -> FakeZendesk:
    fake = FakeZendesk(http, "anna@acme.test", "zd-unused-api-token")
    fake.enable_oauth(CLIENT_ID, "anna@acme.test")
    return fake


def zendesk_config(fake: FakeZendesk, name: str) -> SourceConfig:
    raw = {"name": name, "kind": "zendesk", "url": fake.base, "timeout": 5}
    raw |= {"auth": "oauth", "client_id": CLIENT_ID}
    return from_dict({"sources": [raw]}).sources[0]


def test_zendesk_oauth_sign_in_refresh_401_once_and_revoked(zendesk: FakeZendesk) -> None:
    oauth = zendesk.oauth
    assert oauth is not None
    now = datetime.now(UTC).replace(microsecond=0)
    zendesk.add("Refund please", status="new", created=now - timedelta(hours=1))
    config = zendesk_config(zendesk, "Zendesk oauth")
    visited: list[str] = []

    def browser(url: str) -> None:
        visited.append(url)
        requests.get(url, timeout=5).raise_for_status()

    assert "Signed in" in signin.sign_in(config, lambda _: None, "auto", browser)  # no device
    assert visited[0].startswith(f"{zendesk.base}/oauth/authorizations/new?")
    port = fake_imap.free_port()  # an OAuth client registered with one exact redirect URL
    fixed = replace(config, options={**config.options, "redirect_port": port})
    signin.sign_in(fixed, lambda _: None, "browser", browser)
    assert f"redirect_uri=http%3A%2F%2F127.0.0.1%3A{port}%2F" in visited[1]
    clock = [now]
    source = make_source(config, lambda: clock[0])
    try:
        assert [t.subject for t in source.fetch(None).tickets] == ["Refund please"]
        assert oauth.calls == ["authorization_code", "authorization_code", "refresh_token"]

        def api_requests() -> int:
            return len([p for p in zendesk.paths() if p.startswith("/api/")])

        before = api_requests()

        # The access token nears its end: renewed before the request, no 401 on the way.
        oauth.advance(3600)
        clock[0] = now + timedelta(seconds=3600)
        assert [t.subject for t in source.fetch(None).tickets] == ["Refund please"]
        assert oauth.calls[-1] == "refresh_token" and len(oauth.calls) == 4
        assert api_requests() == before + 1  # one search, answered at once
        before = api_requests()

        # Zendesk stops accepting it early: one 401, one renewal, the same request again.
        oauth.access.clear()
        assert [t.subject for t in source.fetch(None).tickets] == ["Refund please"]
        assert len(oauth.calls) == 5
        assert api_requests() == before + 2  # refused once, then the same search again

        # The sign-in is revoked: "sign-in needed", and the keyring forgets the refresh token.
        oauth.revoke_all()
        oauth.access.clear()
        with pytest.raises(SignInNeeded, match="sign-in needed"):
            source.fetch(None)
    finally:
        source.close()
    with pytest.raises(SignInNeeded):
        make_source(config, lambda: now)


def test_zendesk_token_auth_warns_of_its_end_and_oauth_does_not() -> None:
    config = from_dict(
        {
            "sources": [
                {"name": "Old", "kind": "zendesk", "url": "https://a.zendesk.com", "user": "a@b"},
                {"name": "New", "kind": "zendesk", "url": "https://a.zendesk.com",
                 "auth": "oauth", "client_id": "x"},
            ]
        }
    )  # fmt: skip
    before = signin.auth_warnings(config, datetime(2026, 12, 1, tzinfo=UTC))
    assert before == [
        "Old: Zendesk API tokens stop working on 2027-04-30 (in 150 days); switch to "
        'auth = "oauth" and sign in (see the README)'
    ]
    after = signin.auth_warnings(config, datetime(2027, 5, 1, tzinfo=UTC))
    assert after == [
        "Old: Zendesk API tokens stopped working on 2027-04-30; switch to "
        'auth = "oauth" and sign in (see the README)'
    ]


# ------------------------------------------------------------------ presets and provisioning


def test_microsoft_and_google_presets_need_only_the_client_id() -> None:
    config = from_dict(
        {
            "sources": [
                {"name": "M365", "kind": "imap", "user": "shared@contoso.example",
                 "auth": "oauth", "provider": "microsoft", "client_id": "00000000-aaaa",
                 "tenant": "contoso.example"},
                {"name": "Gmail", "kind": "imap", "user": "help@example.com", "auth": "oauth",
                 "provider": "google", "client_id": "123.apps.googleusercontent.com",
                 "client_secret": "GOCSPX-not-confidential"},
            ]
        }
    )  # fmt: skip
    m365, gmail = config.sources
    source = ImapSource(m365, "rt-only-for-construction-1")
    assert (source.host, source.port, source.tls) == ("outlook.office365.com", 993, True)
    assert source.user == "shared@contoso.example"  # a shared mailbox: the person signs in
    client = signin.client_for(m365)
    assert client.provider.token_url == (
        "https://login.microsoftonline.com/contoso.example/oauth2/v2.0/token"
    )
    assert client.can_use_device_code
    assert client.provider.scopes == (
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "offline_access",
    )
    google = signin.client_for(gmail)
    assert not google.can_use_device_code  # Google refuses the mail scope with device codes
    assert google.provider.scopes == ("https://mail.google.com/",)
    assert ImapSource(gmail, "rt-only-for-construction-2").host == "imap.gmail.com"
    with pytest.raises(signin.SignInFailed, match="use the browser"):
        signin.sign_in(gmail, lambda _: None, method="device")


def test_imap_auth_and_url_mistakes_say_what_to_set() -> None:
    def source(**raw: object) -> ImapSource:
        table = {"name": "M", "kind": "imap", "user": "a@b.example", **raw}
        return ImapSource(from_dict({"sources": [table]}).sources[0], "pw-for-construction-4")

    with pytest.raises(ConfigError, match="set url to the mail server"):
        source()
    # a mistyped auth is the config's error, named before the source is built
    with pytest.raises(ConfigError, match=r"sources\[0\]\.auth: 'oath' is not a way to sign in"):
        source(url="imaps://mail.example.com", auth="oath")
    unchecked = SourceConfig(
        "M", "imap", "imaps://x.example", "a@b.example", options={"auth": "oath"}
    )
    with pytest.raises(NotConfigured, match='auth must be "password" or "oauth"'):
        ImapSource(unchecked, "pw-for-construction-4")


def test_an_oauth_source_without_a_client_id_says_what_to_set() -> None:
    """`config validate` names client_id (else `check` says sign in and `signin` says set
    client_id: a circle); a source built without the config's check says it too."""
    oauth = {"auth": "oauth", "provider": "microsoft"}
    table = {"name": "M", "kind": "imap", "user": "a@b.example", **oauth}
    with pytest.raises(ConfigError, match=r"sources\[0\]\.client_id: is missing; auth = "):
        from_dict({"sources": [table]})
    unchecked = SourceConfig("M", "imap", user="a@b.example", options=oauth)
    with pytest.raises(NotConfigured, match="M: client_id is missing"):
        ImapSource(unchecked, "rt-only-for-construction-3")
    with pytest.raises(NotConfigured, match="M: client_id is missing"):
        signin.client_for(unchecked)


def test_a_provisioning_file_carries_client_id_and_provider_and_staff_only_sign_in(
    cli_env, tmp_path: Path
) -> None:
    file = tmp_path / "team.toml"
    file.write_text(
        '[[sources]]\nname = "Support inbox"\nkind = "imap"\nuser = "support@contoso.example"\n'
        'auth = "oauth"\nprovider = "microsoft"\nclient_id = "00000000-1111-2222"\n'
    )
    done = run_cli(["--import", str(file)], cli_env)
    assert done.returncode == 0, done.stderr
    assert "ticketbell signin 'Support inbox'" in done.stdout
    assert "secret set" not in done.stdout


def test_the_agent_shows_sign_in_needed_once_and_asks_nobody_until_signed_in(
    tmp_path: Path, clock
) -> None:
    from agent.engine import Agent
    from agent.queue import LocalQueue

    config = from_dict(
        {
            "sources": [
                {"name": "Never signed in", "kind": "imap", "user": "a@b.example",
                 "url": "imaps://127.0.0.1:1", "auth": "oauth", "provider": "microsoft",
                 "client_id": "00000000-aaaa"},
            ]
        }
    )  # fmt: skip
    agent = Agent(config, LocalQueue(tmp_path / "q"), clock=clock)
    try:
        first = agent.poll_once()
        clock.advance(3600)
        second = agent.poll_once()
    finally:
        agent.stop()
    (health,) = first.status.sources
    assert health.sign_in and health.stale
    assert "sign-in needed" in health.message and "Sign in…" in health.message
    assert [a.kind for a in first.alerts + second.alerts].count("source_down") == 1
    assert second.status.sources[0].sign_in


@pytest.fixture
def oauth_alone(http: HTTPServer) -> FakeOAuthServer:
    """The OAuth server without a mailbox (rotating refresh tokens, as Microsoft's)."""
    http.clear()
    server = FakeOAuthServer(f"http://127.0.0.1:{http.port}", CLIENT_ID, "a@example.com")
    http.expect_request(re.compile(".*")).respond_with_handler(
        lambda request: server.handle(request) or Response("not found", status=404)
    )
    return server


def plain_config(oauth: FakeOAuthServer, name: str) -> SourceConfig:
    raw = {"name": name, "kind": "imap", "url": "imaps://127.0.0.1:1", "user": "a@example.com"}
    raw |= {"auth": "oauth", "provider": "custom", "issuer": oauth.base, "client_id": CLIENT_ID}
    return from_dict({"sources": [raw]}).sources[0]


def test_an_issuer_that_refuses_its_metadata_is_said_with_its_status(http: HTTPServer) -> None:
    """An issuer answering 401 (a login page's API, say) was "not OAuth server metadata (no
    token_endpoint)", which sent the admin looking at the metadata instead of the address."""
    from agent.auth.providers import discover
    from agent.sources.base import BadResponse

    http.clear()
    http.expect_request("/refusing/.well-known/oauth-authorization-server").respond_with_json(
        {"error": "unauthorized"}, status=401
    )
    raw = {"name": "Refusing", "kind": "imap", "url": "imaps://127.0.0.1:1", "user": "a@b.c"}
    raw |= {"auth": "oauth", "provider": "custom", "client_id": CLIENT_ID}
    raw["issuer"] = f"http://127.0.0.1:{http.port}/refusing"
    with pytest.raises(BadResponse) as refused:
        discover(from_dict({"sources": [raw]}).sources[0])
    assert "answered HTTP 401; is issuer the address of the OAuth server?" in str(refused.value)


def test_an_issuers_metadata_is_read_up_to_a_bound(http: HTTPServer) -> None:
    """The metadata document was read whole into memory, whatever its size."""
    from agent.auth.providers import MAX_METADATA, discover
    from agent.sources.base import BadResponse

    http.clear()
    huge = b'{"token_endpoint": "https://x/t", "pad": "' + b"x" * MAX_METADATA + b'"}'
    http.expect_request("/huge/.well-known/oauth-authorization-server").respond_with_data(
        huge, content_type="application/json"
    )
    raw = {"name": "Huge", "kind": "imap", "url": "imaps://127.0.0.1:1", "user": "a@b.c"}
    raw |= {"auth": "oauth", "provider": "custom", "client_id": CLIENT_ID}
    raw["issuer"] = f"http://127.0.0.1:{http.port}/huge"
    with pytest.raises(BadResponse, match="sent more than 1 MiB in one response; refused"):
        discover(from_dict({"sources": [raw]}).sources[0])


def test_two_logins_at_once_renew_once_with_a_rotating_refresh_token(oauth_alone) -> None:
    config = plain_config(oauth_alone, "Rotating inbox")
    device_sign_in(config)
    tokens = signin.tokens_for(config, secret_store.get("Rotating inbox"))
    first = tokens.current()
    oauth_alone.access.clear()  # the server refuses it: the poll and the IDLE login both renew
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(tokens.renew(refused=first)))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[0] == results[1] != first
    assert oauth_alone.calls.count("refresh_token") == 2  # the first token, and one renewal
    assert secret_store.get("Rotating inbox") == tokens.refresh_token  # the rotated one kept


def test_a_refresh_token_rotated_by_another_ticketbell_is_taken_from_the_keyring(
    oauth_alone,
) -> None:
    config = plain_config(oauth_alone, "Shared keyring inbox")
    device_sign_in(config)
    stored = secret_store.get("Shared keyring inbox")
    tray = signin.tokens_for(config, stored)
    check = signin.tokens_for(config, stored)  # `ticketbell check` in another process
    check.current()  # rotates: the tray's refresh token is refused from now on
    assert tray.current()  # refused once, then the keyring's newer token works
    assert secret_store.get("Shared keyring inbox") == tray.refresh_token
