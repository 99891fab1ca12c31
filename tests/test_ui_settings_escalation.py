"""Settings: escalation levels and channels (Send test against a real SMTP server on 127.0.0.1,
secret-bearing URLs to the keyring), response windows and business hours."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from agent import config as config_module
from agent import secrets as secret_store
from ui.access import plain
from ui.settings import SettingsDialog

PASSWORD = "pw-Secret-4711"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mailbox:
    """aiosmtpd on 127.0.0.1 that accepts user "owner" with PASSWORD and keeps the mails."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[email.message.EmailMessage] = []
        self.controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self.authenticate,
            auth_require_tls=False,
        )

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any):
        return AuthResult(success=data.login == b"owner" and data.password == PASSWORD.encode())

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"

    def url(self, password: str = PASSWORD) -> str:
        return (
            f"mailto://owner:{password}@127.0.0.1:{self.port}"
            "?from=ticketbell@example.com&to=owner@example.com"
        )


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.controller.start()
    yield box
    box.controller.stop()


def dialog_for(qtbot, tmp_path, raw: dict[str, Any]) -> SettingsDialog:
    dialog = SettingsDialog(tmp_path / "ticketbell.toml", None, raw=raw)
    qtbot.addWidget(dialog)
    return dialog


DEMO_SOURCE = [{"name": "Desk", "kind": "demo"}]


def test_every_level_repeat_sender_and_digest_are_edited_and_saved(qtbot, tmp_path) -> None:
    raw = {
        "sources": DEMO_SOURCE,
        "escalation": {
            "levels": [
                {"after": "0m", "notify": ["owner-desktop"]},
                {"after": "30m", "notify": ["ntfy://first-topic"]},
            ],
            "blind_after": "45m",
        },
    }
    dialog = dialog_for(qtbot, tmp_path, raw)
    page = dialog.escalation
    assert [plain(b.title()) for b in page.levels] == ["Level 1", "Level 2"]
    assert page.levels[1].targets.rows[0].edit.text() == "ntfy://first-topic"
    assert not page.levels[0].targets.rows[0].test_button.isEnabled()  # owner-desktop
    page.levels[1].targets.rows[0].edit.setText("ntfy://second-topic")
    page.levels[1].targets.add("json://127.0.0.1:8080/hook")
    third = page.add_level({"after": "2h", "notify": ["ntfy://third-topic"]})
    assert plain(third.title()) == "Level 3"
    page.levels[0].remove_button.click()
    assert [plain(b.title()) for b in page.levels] == ["Level 1", "Level 2"]
    page.repeat.setText("1h")
    page.sent_by.setCurrentIndex(page.sent_by.findData("assistant"))
    page.digest_at.setText("18:00")
    page.digest_to.add("ntfy://digest-topic")
    assert dialog.save() is not None
    esc = config_module.load(tmp_path / "ticketbell.toml").escalation
    assert [(lv.after.total_seconds(), lv.notify) for lv in esc.levels] == [
        (1800, ("ntfy://second-topic", "json://127.0.0.1:8080/hook")),
        (7200, ("ntfy://third-topic",)),
    ]
    assert esc.repeat_every is not None and esc.repeat_every.total_seconds() == 3600
    assert esc.sent_by == "assistant"
    assert esc.digest_at is not None and esc.digest_at.hour == 18
    assert esc.digest_to == ("ntfy://digest-topic",)
    assert esc.blind_after.total_seconds() == 45 * 60  # a key the page does not show is kept


def test_a_bad_target_or_delay_is_shown_next_to_it(qtbot, tmp_path) -> None:
    raw = {"sources": DEMO_SOURCE, "escalation": {"levels": [{"after": "0m", "notify": []}]}}
    dialog = dialog_for(qtbot, tmp_path, raw)
    level = dialog.escalation.levels[0]
    level.targets.add("owner-desktop")
    bad = level.targets.add("nosuchservice://what")
    assert dialog.save() is None
    assert "not a channel URL" in bad.error.text() and bad.error.isVisibleTo(dialog)
    assert "Escalation" in dialog.banner.text()
    bad.edit.setText("ntfy://fine-topic")
    level.after.setText("soon")
    assert dialog.save() is None
    assert "is not a duration" in level.after_error.text()
    assert not bad.error.isVisibleTo(dialog)
    assert not (tmp_path / "ticketbell.toml").exists()


def test_a_url_with_a_password_goes_to_the_keyring_and_is_shown_masked(
    qtbot, tmp_path, mailbox
) -> None:
    path = tmp_path / "ticketbell.toml"
    dialog = dialog_for(qtbot, tmp_path, {"sources": DEMO_SOURCE})
    page = dialog.escalation
    level = page.add_level({"after": "0m", "notify": []})
    row = level.targets.add("")
    row.edit.setText(mailbox.url())
    row.absorb()  # leaving the field
    assert PASSWORD not in row.edit.text() and "****" in row.edit.text()
    assert row.edit.isReadOnly() and "keyring" in row.note.text()

    with qtbot.waitSignal(row.sender_.done, timeout=15_000):
        row.test_button.click()  # before saving: sent with the typed URL
    assert row.result.text() == "Test message sent. Check that it arrived."
    assert [str(m["Subject"]) for m in mailbox.messages] == ["Ticketbell test message"]

    assert dialog.save() is not None
    text = path.read_text()
    assert PASSWORD not in text and "owner:" not in text
    assert '"keyring:escalation-mailto-level1"' in text
    assert secret_store.get("escalation-mailto-level1") == mailbox.url()

    again = SettingsDialog(path, config_module.load(path))
    qtbot.addWidget(again)
    kept = again.escalation.levels[0].targets.rows[0]
    assert PASSWORD not in kept.edit.text() and "127.0.0.1" in kept.edit.text()
    assert "escalation-mailto-level1" in kept.note.text()
    with qtbot.waitSignal(kept.sender_.done, timeout=15_000):
        kept.test_button.click()  # now through keyring:NAME, the path escalations take
    assert kept.result.text().startswith("Test message sent")
    assert len(mailbox.messages) == 2

    kept.replace_button.click()  # a new password: same keyring entry, still not in the file
    kept.edit.setText(mailbox.url("pw-Other-0815"))
    assert again.save() is not None
    assert "pw-Other" not in path.read_text()
    assert secret_store.get("escalation-mailto-level1") == mailbox.url("pw-Other-0815")


def saved_with_three_secret_targets(qtbot, tmp_path) -> None:
    """Settings saved with two e-mail targets on one level and a Slack digest, all secret."""
    dialog = dialog_for(qtbot, tmp_path, {"sources": DEMO_SOURCE})
    level = dialog.escalation.add_level({"after": "0m", "notify": []})
    level.targets.add("mailto://a:pw-first-111@mail.example.com?to=a@example.com")
    level.targets.add("mailto://b:pw-second-22@mail.example.com?to=b@example.com")
    dialog.escalation.digest_to.add("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ")
    assert dialog.save() is not None


def test_two_secret_urls_get_two_keyring_entries(qtbot, tmp_path) -> None:
    path = tmp_path / "ticketbell.toml"
    saved_with_three_secret_targets(qtbot, tmp_path)
    esc = config_module.load(path).escalation
    assert esc.levels[0].notify == (
        "keyring:escalation-mailto-level1",
        "keyring:escalation-mailto-level1-2",
    )
    assert esc.digest_to == ("keyring:escalation-slack-digest",)
    text = path.read_text()
    for secret in ("pw-first", "pw-second", "TIiajkdnlazkcOXrIdevi7FQ"):
        assert secret not in text
    assert "pw-second-22" in secret_store.get("escalation-mailto-level1-2")


def test_send_test_to_a_closed_port_says_so_in_plain_words(qtbot, tmp_path) -> None:
    dialog = dialog_for(qtbot, tmp_path, {"sources": DEMO_SOURCE})
    level = dialog.escalation.add_level({"after": "0m", "notify": []})
    row = level.targets.add(
        f"mailto://owner:{PASSWORD}@127.0.0.1:{free_port()}?from=t@example.com&to=o@example.com"
    )
    with qtbot.waitSignal(row.sender_.done, timeout=15_000):
        row.test_button.click()
    text = row.result.text()
    assert text.startswith("Not sent: nothing answered at that address (connection refused)")
    assert PASSWORD not in text
    assert row.test_button.isEnabled()


def test_response_windows_rules_and_business_hours_round_trip(qtbot, tmp_path) -> None:
    path = tmp_path / "ticketbell.toml"
    raw = {
        "sources": DEMO_SOURCE,
        "windows": {"default": "2h", "rules": [{"priority": "urgent", "window": "10m"}]},
        "business_hours": {"timezone": "Europe/Berlin", "days": "Mon-Fri", "hours": "08:00-16:30"},
    }
    dialog = dialog_for(qtbot, tmp_path, raw)
    page = dialog.response
    assert page.hours_box.isChecked() and page.bh_zone.currentText() == "Europe/Berlin"
    assert [c.isChecked() for c in page.bh_days] == [True] * 5 + [False] * 2
    assert page.rules[0].priority.currentData() == "urgent"
    page.bh_days[5].setChecked(True)
    page.bh_holidays.setText("de-by")
    page.use_due.setChecked(False)
    rule = page.add_rule({})
    rule.category.setText("Sales")
    rule.window_edit.setText("30m")
    assert dialog.save() is not None
    config = config_module.load(path)
    hours = config.business_hours
    assert hours is not None
    assert hours.timezone == "Europe/Berlin" and hours.days == frozenset(range(6))
    assert (hours.start.hour, hours.end.minute, hours.holidays) == (8, 30, "DE-BY")
    assert [(r.priority, r.category, r.window.total_seconds()) for r in config.windows.rules] == [
        ("urgent", None, 600),
        (None, "Sales", 1800),
    ]
    assert config.windows.use_helpdesk_due is False


def test_business_hours_and_rule_errors_are_next_to_their_field(qtbot, tmp_path) -> None:
    dialog = dialog_for(qtbot, tmp_path, {"sources": DEMO_SOURCE})
    page = dialog.response
    page.hours_box.setChecked(True)
    page.bh_zone.setCurrentText("Mars/Olympus")
    assert dialog.save() is None
    assert "is not a time zone" in page.zone_error.text()
    assert plain(dialog.tabs.tabText(dialog.tabs.currentIndex())) == "Response times"
    page.bh_zone.setCurrentText("Europe/London")
    page.bh_holidays.setText("XX")
    assert dialog.save() is None
    assert "XX" in page.holidays_error.text() and not page.zone_error.isVisibleTo(dialog)
    page.bh_holidays.setText("GB")
    for check in page.bh_days:
        check.setChecked(False)
    assert dialog.save() is None
    assert "not a list of days" in page.days_error.text()
    page.bh_days[0].setChecked(True)
    page.bh_end.setTime(page.bh_start.time().addSecs(-3600))
    assert dialog.save() is None
    assert "must end after it starts" in page.hours_error.text()
    page.bh_end.setTime(page.bh_start.time().addSecs(3600))
    rule = page.add_rule({})
    rule.category.setText("Sales")
    rule.window_edit.setText("fast")
    assert dialog.save() is None
    assert rule.error.text().startswith("reply within: ") and "not a duration" in rule.error.text()
    rule.window_edit.setText("20m")
    assert dialog.save() is not None


def tab_chain(start, count: int) -> list:
    """The next ``count`` widgets Tab reaches from ``start``."""
    from PySide6.QtCore import Qt

    out, widget = [], start
    while len(out) < count:
        widget = widget.nextInFocusChain()
        if widget.focusPolicy() & Qt.FocusPolicy.TabFocus and not widget.isHidden():
            out.append(widget)
    return out


def test_tab_follows_the_reading_order_when_rows_come_and_go(qtbot, tmp_path) -> None:
    raw = {"sources": [{"name": "Help", "kind": "freescout", "url": "https://help.example.com"}]}
    dialog = dialog_for(qtbot, tmp_path, raw)
    form = dialog.source_form
    # the kind's own fields sit between the name and the token, and Tab goes the same way
    assert tab_chain(form.name, 4) == [
        form.fields["url"],
        form.token,
        form.token_help,
        form.interval,
    ]
    level = dialog.escalation.add_level({"after": "0m", "notify": ["ntfy://first"]})
    second = level.targets.add("ntfy://second")
    first = level.targets.rows[0]
    assert tab_chain(level.after, 2) == [first.edit, first.test_button]
    assert tab_chain(first.remove_button, 1) == [second.edit]
    assert tab_chain(second.remove_button, 1) == [level.targets.add_button]


def test_a_levels_when_is_kept_on_saving(qtbot, tmp_path) -> None:
    path = tmp_path / "ticketbell.toml"
    raw = {
        "sources": DEMO_SOURCE,
        "role": "owner",
        "escalation": {
            "levels": [
                {"after": "0m", "notify": ["owner-desktop"], "when": "nobody_watching"},
                {"after": "30m", "notify": ["ntfy://first-topic"]},
            ]
        },
    }
    dialog = dialog_for(qtbot, tmp_path, raw)
    dialog.escalation.levels[1].after.setText("45m")
    assert dialog.save() is not None
    assert config_module.read_toml(path)["escalation"]["levels"] == [
        {"after": "0m", "notify": ["owner-desktop"], "when": "nobody_watching"},
        {"after": "45m", "notify": ["ntfy://first-topic"]},
    ]
    esc = config_module.load(path).escalation
    assert [lv.when for lv in esc.levels] == ["nobody_watching", "overdue"]


def test_a_removed_or_replaced_secret_target_leaves_the_keyring_once_saved(qtbot, tmp_path) -> None:
    path = tmp_path / "ticketbell.toml"
    saved_with_three_secret_targets(qtbot, tmp_path)
    names = ["escalation-mailto-level1", "escalation-mailto-level1-2", "escalation-slack-digest"]
    assert all(secret_store.stored(name) for name in names)

    again = SettingsDialog(path, config_module.load(path))
    qtbot.addWidget(again)
    page = again.escalation
    page.levels[0].targets.rows[0].remove_button.click()
    digest = page.digest_to.rows[0]
    digest.replace_button.click()
    digest.edit.setText("ntfy://digest-topic")
    assert again.save() is not None  # and then settles the keyring
    assert config_module.load(path).escalation.digest_to == ("ntfy://digest-topic",)
    assert [secret_store.stored(name) for name in names] == ["", "the keyring", ""]
    assert "pw-second-22" in secret_store.get("escalation-mailto-level1-2")


def test_a_typed_secret_not_yet_stored_is_an_unsaved_change(qtbot, tmp_path) -> None:
    path = tmp_path / "ticketbell.toml"
    dialog = dialog_for(qtbot, tmp_path, {"sources": DEMO_SOURCE})
    level = dialog.escalation.add_level({"after": "0m", "notify": []})
    row = level.targets.add("")
    assert not dialog.escalation.typed_secrets()
    row.edit.setText("mailto://u:pw-OLD-1@mail.example.com?to=x@example.com")  # not left yet
    assert dialog.escalation.typed_secrets()
    assert dialog.save() is not None
    assert not dialog.escalation.typed_secrets()

    again = SettingsDialog(path, config_module.load(path))
    qtbot.addWidget(again)
    kept = again.escalation.levels[0].targets.rows[0]
    assert not again.escalation.typed_secrets()
    kept.replace_button.click()
    kept.edit.setText("mailto://u:pw-NEW-2@mail.example.com?to=x@example.com")
    kept.absorb()
    assert again.collect() == again.pristine  # the same keyring:NAME: the table cannot tell
    assert again.escalation.typed_secrets()
    assert again.edited()  # so closing the window asks before dropping it
