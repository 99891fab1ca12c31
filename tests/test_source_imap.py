"""The imap kind against a real IMAP server (Dovecot) on 127.0.0.1 — no mock of imaplib."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from agent import config as cfg
from agent.config import SourceConfig
from agent.engine import Agent
from agent.model import Status
from agent.queue import LocalQueue
from agent.sources import source_class
from agent.sources.base import (
    AuthError,
    BadResponse,
    NotConfigured,
    TLSFailure,
    Unreachable,
)
from agent.sources.imap import ImapSource, encode_mailbox, parse_internaldate, uid_set
from tests.fakes import imap as fake

pytestmark = pytest.mark.skipif(not fake.available(), reason="Dovecot or openssl not installed")

UTC = timezone.utc
PASSWORD = "Tr0ub4dor&3-SECRET-imap"


@pytest.fixture(scope="module")
def dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[fake.Dovecot]:
    server = fake.Dovecot(tmp_path_factory.mktemp("dovecot"))
    yield server
    server.stop()


@pytest.fixture
def account(dovecot: fake.Dovecot) -> Iterator[tuple[str, fake.Mailbox]]:
    user, password = dovecot.add_user(PASSWORD)
    mailbox = fake.Mailbox(dovecot, user, password)
    mailbox.create("Sent")
    yield user, mailbox
    mailbox.close()


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def make(
    dovecot: fake.Dovecot,
    user: str,
    *,
    categories: tuple[str, ...] = (),
    password: str = PASSWORD,
    url: str = "",
    verify: bool | str = True,
    **options: object,
) -> ImapSource:
    opts = {"folder": "INBOX", "sent_folder": "Sent", "starttls": False, **options}
    config = SourceConfig(
        name="Support inbox",
        kind="imap",
        url=url or f"imap://127.0.0.1:{dovecot.port}",
        user=user,
        categories=categories,
        verify=verify,
        timeout=5,
        options=opts,
    )
    return ImapSource(config, password)


def h(now: datetime, hours: float) -> datetime:
    return now - timedelta(hours=hours)


def test_registered_and_listed_with_a_description() -> None:
    assert source_class("imap") is ImapSource
    assert "IMAP" in ImapSource.description


def test_waiting_threads_and_answered_ones(dovecot, account, now) -> None:
    user, mb = account
    waiting = mb.append(
        subject="=?utf-8?q?R=C3=BCckerstattung_f=C3=BCr_Bestellung?=",
        sender="=?utf-8?q?J=C3=B6rg_K=C3=A4ufer?= <jorg@customer.example>",
        arrived=h(now, 3),
    )
    mb.append(subject="Flagged answered", arrived=h(now, 5), flags="\\Answered")
    asked = mb.append(subject="Replied from the Sent folder", arrived=h(now, 4))
    mb.append(
        "Sent",
        subject="Re: Replied from the Sent folder",
        sender=user,
        to="carla@customer.example",
        arrived=h(now, 2),
        reply_to=asked,
    )
    source = make(dovecot, user)
    try:
        tickets = source.fetch(None).tickets
    finally:
        source.close()
    assert [t.subject for t in tickets] == ["Rückerstattung für Bestellung"]
    t = tickets[0]
    assert t.requester == "Jörg Käufer"
    assert t.requester_email == "jorg@customer.example"  # for [[vip]]
    assert t.waiting_since == h(now, 3)  # INTERNALDATE; the Date header says 2001
    assert t.created_at == h(now, 3)
    assert t.category == "INBOX"
    assert t.status == "unanswered"
    assert t.url == ""
    assert waiting  # the thread's id is a stable hash of its root Message-ID
    assert len(t.id) == 12
    # Reading never marks mail as read.
    assert not any("\\Seen" in flags for flags in mb.flags("INBOX"))


def test_a_follow_up_keeps_the_oldest_unanswered_time_and_a_reply_resets_it(
    dovecot, account, now
) -> None:
    user, mb = account
    first = mb.append(subject="Licence key lost", arrived=h(now, 8))
    second = mb.append(subject="Re: Licence key lost", arrived=h(now, 6), reply_to=first)
    source = make(dovecot, user)
    try:
        (t,) = source.fetch(None).tickets
        assert t.waiting_since == h(now, 8)  # the follow-up does not restart the clock
        assert t.subject == "Licence key lost"
        ticket_id = t.id

        mb.append(
            "Sent",
            subject="Re: Licence key lost",
            sender=f"Support <{user}>",
            arrived=h(now, 4),
            reply_to=second,
            references=f"{first} {second}",
        )
        assert source.fetch(None).tickets == ()  # our reply answers the thread up to then

        mb.append(
            subject="Re: Licence key lost",
            arrived=h(now, 1),
            reply_to=second,
            references=f"{first} {second}",
        )
        (again,) = source.fetch(None).tickets
        assert again.id == ticket_id  # the same thread, waiting again since the new message
        assert again.waiting_since == h(now, 1)
        assert again.created_at == h(now, 8)
    finally:
        source.close()


def test_a_reply_from_a_team_address_in_the_inbox_answers(dovecot, account, now) -> None:
    user, mb = account
    asked = mb.append(subject="Invoice", arrived=h(now, 3))
    mb.append(
        subject="Re: Invoice",
        sender="Ann <ann@example.com>",
        arrived=h(now, 2),
        reply_to=asked,
    )
    source = make(dovecot, user, team=["@example.com"])
    try:
        assert source.fetch(None).tickets == ()
    finally:
        source.close()
    source = make(dovecot, user)  # without the team, Ann is just another correspondent
    try:
        assert [t.subject for t in source.fetch(None).tickets] == ["Invoice"]
    finally:
        source.close()


def _dsn(now: datetime, original_id: str) -> bytes:
    """A delivery status notification as Postfix sends one (RFC 3464 inside RFC 6522's
    multipart/report), from MAILER-DAEMON with the null Return-Path."""
    return (
        "Return-Path: <>\r\n"
        "From: MAILER-DAEMON@mail.customer.example (Mail Delivery System)\r\n"
        "To: support@example.com\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <dsn.{now.timestamp():.0f}@mail.customer.example>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status;\r\n"
        '\tboundary="B0UND"\r\n'
        "\r\n"
        "--B0UND\r\n"
        "Content-Type: text/plain\r\n\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n"
        "--B0UND\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mail.customer.example\r\n\r\n"
        "Final-Recipient: rfc822; gone@customer.example\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n"
        "--B0UND\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {original_id}\r\n"
        "--B0UND--\r\n"
    ).encode()


def _read_receipt(now: datetime) -> bytes:
    """A read receipt (RFC 8098 disposition notification, multipart/report) from a person's
    address: nothing else in it says a machine wrote it."""
    return (
        "From: Carla Customer <carla@customer.example>\r\n"
        "To: support@example.com\r\n"
        "Subject: Read: Your invoice\r\n"
        f"Message-ID: <mdn.{now.timestamp():.0f}@customer.example>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=disposition-notification; boundary="M"\r\n'
        "\r\n--M\r\nContent-Type: text/plain\r\n\r\nYour message was read.\r\n"
        "--M\r\nContent-Type: message/disposition-notification\r\n\r\n"
        "Final-Recipient: rfc822; carla@customer.example\r\n"
        "Disposition: manual-action/MDN-sent-manually; displayed\r\n--M--\r\n"
    ).encode()


def test_automatic_mail_never_opens_a_ticket(dovecot, account, now) -> None:
    """RFC 3834 section 5 (Auto-Submitted), RFC 6522/3464/8098 (reports), RFC 2919 (List-Id),
    RFC 3834 section 2 (Precedence). Failed before: every one of these was a waiting ticket."""
    user, mb = account
    mb.append(
        subject="Automatic reply: Out of office",
        arrived=h(now, 5),
        extra={"Auto-Submitted": "auto-replied"},
    )
    mb.append(
        subject="Your order has shipped",
        sender="Shop <noreply@shop.example>",
        arrived=h(now, 5),
        extra={"Auto-Submitted": "auto-generated"},
    )
    mb.append_raw(_dsn(now, "<our-old-mail@example.com>"), arrived=h(now, 4))
    mb.append_raw(_read_receipt(now), arrived=h(now, 4))
    mb.append(
        subject="[announce] Release 4.2",
        sender="Vendor <announce@vendor.example>",
        arrived=h(now, 3),
        extra={"List-Id": "Vendor news <announce.vendor.example>", "Precedence": "list"},
    )
    mb.append(
        subject="Monthly newsletter",
        sender="News <news@vendor.example>",
        arrived=h(now, 3),
        extra={"Precedence": "bulk"},
    )
    mb.append(
        subject="I'm away (vacation program without Auto-Submitted)",
        arrived=h(now, 3),
        extra={"Return-Path": "<>"},
    )
    # What a person writes still counts, even with the headers a person's mail may carry:
    mb.append(subject="A real question", arrived=h(now, 2), extra={"Auto-Submitted": "no"})
    mb.append(
        subject="Via our own Google group",
        arrived=h(now, 1),
        to=user,
        extra={"List-Id": f"<{user.replace('@', '.')}>", "Precedence": "list"},
    )
    source = make(dovecot, user)
    try:
        tickets = source.fetch(None).tickets
    finally:
        source.close()
    assert sorted(t.subject for t in tickets) == ["A real question", "Via our own Google group"]


def test_an_out_of_office_reply_does_not_reopen_an_answered_thread(dovecot, account, now) -> None:
    """RFC 3834 section 3.1.5/5: an auto-reply carries In-Reply-To and Auto-Submitted:
    auto-replied. Failed before: the out-of-office answer to our reply reopened the thread."""
    user, mb = account
    asked = mb.append(subject="Licence key lost", arrived=h(now, 8))
    reply = mb.append(
        "Sent",
        subject="Re: Licence key lost",
        sender=f"Support <{user}>",
        to="carla@customer.example",
        arrived=h(now, 4),
        reply_to=asked,
        message_id=f"<reply.{now.timestamp():.0f}@example.com>",
    )
    mb.append(
        subject="Automatic reply: Re: Licence key lost",
        arrived=h(now, 3),
        reply_to=reply,
        references=f"{asked} {reply}",
        extra={"Auto-Submitted": "auto-replied"},
    )
    source = make(dovecot, user)
    try:
        assert source.fetch(None).tickets == ()
        # The customer writing back for real does reopen it.
        mb.append(
            subject="Re: Licence key lost",
            arrived=h(now, 1),
            reply_to=reply,
            references=f"{asked} {reply}",
        )
        (t,) = source.fetch(None).tickets
        assert t.waiting_since == h(now, 1)
    finally:
        source.close()


def test_an_auto_acknowledgement_does_not_answer(dovecot, account, now) -> None:
    """Our own autoresponder's "we got your mail" (Auto-Submitted: auto-replied, RFC 3834) is
    not an answer, even saved in the Sent folder. Failed before: it answered the thread."""
    user, mb = account
    asked = mb.append(subject="Cannot log in", arrived=h(now, 5))
    mb.append(
        "Sent",
        subject="Re: Cannot log in [received]",
        sender=f"Support <{user}>",
        to="carla@customer.example",
        arrived=h(now, 5) + timedelta(minutes=1),
        reply_to=asked,
        extra={"Auto-Submitted": "auto-replied"},
    )
    source = make(dovecot, user)
    try:
        (t,) = source.fetch(None).tickets
    finally:
        source.close()
    assert t.subject == "Cannot log in" and t.waiting_since == h(now, 5)


def test_categories_are_folders(dovecot, account, now) -> None:
    user, mb = account
    for folder in ("Billing", "Sales", "Archive"):
        mb.create(folder)
    mb.append("Billing", subject="Charged twice", arrived=h(now, 2))
    mb.append("Sales", subject="School discount?", arrived=h(now, 3))
    mb.append("Archive", subject="Old stuff", arrived=h(now, 4))
    mb.append(subject="In the inbox", arrived=h(now, 1))
    source = make(dovecot, user, categories=("Billing", "Sales"))
    try:
        by_subject = {t.subject: t.category for t in source.fetch(None).tickets}
        assert by_subject == {"Charged twice": "Billing", "School discount?": "Sales"}
        assert source.list_categories() == ["Archive", "Billing", "INBOX", "Sales"]
    finally:
        source.close()


def test_categories_are_recipient_addresses(dovecot, account, now) -> None:
    user, mb = account
    mb.append(subject="Quote for 50 seats", to="sales@example.com", arrived=h(now, 2))
    mb.append(subject="Crash on start", to="help@example.com", arrived=h(now, 3))
    mb.append(
        subject="Via a list",
        to="someone@example.org",
        arrived=h(now, 4),
        extra={"Delivered-To": "Sales@Example.com"},
    )
    source = make(dovecot, user, categories=("sales@example.com",))
    try:
        tickets = source.fetch(None).tickets
    finally:
        source.close()
    assert sorted(t.subject for t in tickets) == ["Quote for 50 seats", "Via a list"]
    assert {t.category for t in tickets} == {"sales@example.com"}


def test_polls_are_incremental_and_see_flag_changes(dovecot, account, now) -> None:
    user, mb = account
    mb.create("Support")
    first = mb.append("Support", subject="One", arrived=h(now, 3))
    source = make(dovecot, user, folder="Support")
    try:
        assert [t.subject for t in source.fetch(None).tickets] == ["One"]
        cached = source._cache["Support"].messages[1]
        mb.append("Support", subject="Two", arrived=h(now, 2))
        assert sorted(t.subject for t in source.fetch(None).tickets) == ["One", "Two"]
        assert source._cache["Support"].messages[1] is cached  # not fetched again
        # A colleague answers "One" from their mail client: no new mail, only a flag.
        mb.set_flag("Support", first, "\\Answered")
        assert [t.subject for t in source.fetch(None).tickets] == ["Two"]
    finally:
        source.close()


def test_a_uidvalidity_change_throws_the_cache_away(dovecot, account, now) -> None:
    user, mb = account
    mb.create("Support")
    mb.append("Support", subject="Before the rebuild", arrived=h(now, 3))
    source = make(dovecot, user, folder="Support")
    try:
        assert [t.subject for t in source.fetch(None).tickets] == ["Before the rebuild"]
        validity = source._cache["Support"].uidvalidity
        # The folder is rebuilt: a new UIDVALIDITY, and UID 1 is now another message.
        mb.conn.select("INBOX")
        mb.delete("Support")
        mb.create("Support")
        mb.append("Support", subject="After the rebuild", arrived=h(now, 1))
        assert [t.subject for t in source.fetch(None).tickets] == ["After the rebuild"]
        assert source._cache["Support"].uidvalidity != validity
        # The server renumbering the INBOX is noticed as well.
        mb.append(subject="In the inbox", arrived=h(now, 2))
        source.folders = ["INBOX"]
        assert [t.subject for t in source.fetch(None).tickets] == ["In the inbox"]
        dovecot.doveadm("mailbox", "update", "-u", user, "--uid-validity", "4242", "INBOX")
        assert [t.subject for t in source.fetch(None).tickets] == ["In the inbox"]
        assert source._cache["INBOX"].uidvalidity == 4242
    finally:
        source.close()


def test_a_wrong_password_is_an_auth_error_without_the_password(
    dovecot, account, caplog: pytest.LogCaptureFixture
) -> None:
    user, _ = account
    wrong = "Wr0ng-Passw0rd-SECRET"
    caplog.set_level(logging.DEBUG)
    source = make(dovecot, user, password=wrong)
    with pytest.raises(AuthError) as err:
        source.fetch(None)
    assert user in str(err.value) and "app password" in str(err.value)
    for text in (str(err.value), err.value.detail, caplog.text):
        assert wrong not in text
        assert PASSWORD not in text


def test_a_server_that_is_down_is_unreachable(dovecot, account) -> None:
    user, _ = account
    source = make(dovecot, user, url=f"imaps://127.0.0.1:{fake.free_port()}")
    with pytest.raises(Unreachable) as err:
        source.fetch(None)
    assert "127.0.0.1" in str(err.value)


def test_a_self_signed_certificate_needs_its_ca(dovecot, account, now) -> None:
    user, mb = account
    mb.append(subject="Over TLS", arrived=h(now, 1))
    url = f"imaps://127.0.0.1:{dovecot.tls_port}"
    with pytest.raises(TLSFailure) as err:
        make(dovecot, user, url=url).fetch(None)
    assert "verify" in str(err.value)
    for source in (
        make(dovecot, user, url=url, verify=str(dovecot.ca)),
        make(dovecot, user, verify=str(dovecot.ca), starttls=True),
    ):
        try:
            assert [t.subject for t in source.fetch(None).tickets] == ["Over TLS"]
        finally:
            source.close()


def test_a_missing_folder_names_the_folders_there_are(dovecot, account) -> None:
    user, _ = account
    with pytest.raises(NotConfigured) as err:
        make(dovecot, user, folder="Support").fetch(None)
    assert "'Support'" in str(err.value) and "INBOX" in str(err.value)
    with pytest.raises(NotConfigured) as err:
        make(dovecot, user, sent_folder="Sent Items").fetch(None)
    assert "'Sent Items'" in str(err.value) and 'sent_folder = ""' in str(err.value)
    source = make(dovecot, user, sent_folder="")  # go by the Answered flag only
    try:
        assert source.fetch(None).tickets == ()
    finally:
        source.close()


def test_idle_reports_new_mail_and_close_interrupts_it(dovecot, account, now) -> None:
    user, mb = account
    source = make(dovecot, user)
    try:
        source.fetch(None)
        assert source.wait_for_change(0.2) is False  # nothing happened
        results: list[bool | None] = []
        # The IDLE connection has the folder open: mail from now on is reported to it.
        waiter = threading.Thread(target=lambda: results.append(source.wait_for_change(30)))
        waiter.start()
        mb.append(subject="Arrives while idling", arrived=now)
        waiter.join(20)
        assert results == [True]

        waiter = threading.Thread(target=lambda: results.append(source.wait_for_change(60)))
        waiter.start()
        threading.Event().wait(0.3)  # give it time to block in IDLE
        source.close()  # the agent stops: the worker must not stay blocked for a minute
        waiter.join(10)
        assert not waiter.is_alive()
        assert results == [True, None]
    finally:
        source.close()


def test_new_mail_is_polled_at_once_through_idle(dovecot, account, now, tmp_path: Path) -> None:
    """The engine polls hourly here; only IDLE can make the new mail show up."""
    user, mb = account
    mb.append(subject="Already there", arrived=h(now, 1))
    config = cfg.from_dict(
        {
            "sources": [
                {
                    "name": "Support inbox",
                    "kind": "imap",
                    "url": f"imap://127.0.0.1:{dovecot.port}",
                    "user": user,
                    "interval": "1h",
                    "timeout": 5,
                }
            ],
            "alerts": {"remind_every": "off"},
        }
    )
    made: list[ImapSource] = []

    def factory(c: SourceConfig, clock: object) -> ImapSource:
        made.append(ImapSource(c, PASSWORD))
        return made[-1]

    agent = Agent(config, LocalQueue(tmp_path / "data"), source_factory=factory)
    seen: list[int] = []
    counts = {1: threading.Event(), 2: threading.Event()}

    def on_status(status: Status) -> None:
        seen.append(status.waiting)
        if status.waiting in counts:
            counts[status.waiting].set()

    agent.subscribe(on_status)
    agent.start()
    try:
        assert counts[1].wait(20)
        # After the first fetch the watcher opens its own connection; once it has the folder
        # open, the server reports any later mail to it.
        wait_until(lambda: made[0]._idle is not None)
        mb.append(subject="Brand new", arrived=now)
        assert counts[2].wait(20), f"waiting counts seen: {seen}"
        assert len(made) == 1
    finally:
        agent.stop()


def wait_until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.01)


def test_pure_helpers() -> None:
    assert parse_internaldate(" 7-Jul-2026 02:44:25 -0700") == datetime(
        2026, 7, 7, 9, 44, 25, 0, UTC
    )
    assert uid_set([1, 2, 3, 7, 9, 10]) == "1:3,7,9:10"
    assert encode_mailbox('Entwürfe "A"') == '"Entw&APw-rfe \\"A\\""'


def test_a_header_larger_than_the_literal_cap_is_refused_not_read(
    dovecot, account, now, monkeypatch
) -> None:
    """imaplib reads a literal of any size the server announces: one is capped (1 MiB; a
    small cap here, so the test mail stays small) and the poll fails naming the mail server."""
    from agent.sources import imap

    user, mb = account
    mb.append(subject="A" * 5000, arrived=h(now, 1))
    monkeypatch.setattr(imap, "MAX_LITERAL", 4096)
    source = make(dovecot, user)
    try:
        with pytest.raises(BadResponse, match=r"sent more than Ticketbell reads in one poll"):
            source.fetch(None)
    finally:
        source.close()
    monkeypatch.setattr(imap, "MAX_LITERAL", 1024 * 1024)
    again = make(dovecot, user)
    try:
        assert [t.subject for t in again.fetch(None).tickets] == ["A" * 5000]
    finally:
        again.close()
