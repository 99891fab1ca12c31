"""The scorecard in the reader's language: the weekly scorecard in the owner's ``language`` (as
the digest), ``ticketbell report``'s text and HTML in the person's, plural forms as each
language counts ("1 breach", "2 breaches"; Polish 1/2/5), dates as the locale writes them; the
JSON and the CSV stay English for the scripts and spreadsheets that read them.

They were English only, "1 breaches" included, whatever the config's ``language``."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from agent import i18n
from agent.cli import main
from agent.insight import report
from agent.insight.aggregates import Day, Outcome
from agent.insight.scorecard import scorecard_messages, summary_text, title_of
from agent.queue import LocalQueue
from tests.test_escalation import Mailbox, mailbox, make_config, owner, wait_until
from tests.test_scorecard import week

__all__ = ["mailbox", "owner"]  # the fixtures this module uses
MONDAY = date(2026, 11, 23)
WEEK = report.Period(MONDAY - timedelta(days=7), MONDAY - timedelta(days=1))


def card_with(breaches: int, uncategorised: bool = True) -> report.Scorecard:
    """A week (16 to 22 Nov 2026) with ``breaches`` late answers of four, and one answer without
    a category."""
    day = Day(WEEK.first)
    late = [True] * breaches + [False] * max(0, 4 - breaches)
    for n, is_late in enumerate(late):
        wait = 150.0 if is_late else 30.5
        day.add(Outcome(day.day, 10, "Desk", "Billing", "normal", "ann", wait, not is_late, 0.0))
        day.add(Outcome(day.day, 11, "Desk", "Sales", "normal", "bob", 20.0 + n, True, 0.0))
    if uncategorised:
        day.add(Outcome(day.day, 12, "Desk", "", "normal", "ann", 10.0, True, 0.0))
    return report.scorecard([day], WEEK)


# --------------------------------------------------------------------------- plural forms


def test_one_breach_is_a_breach_in_english() -> None:
    """It said "1 breaches" in the title and in each chat line."""
    one, two = card_with(1), card_with(2)
    assert title_of(one).endswith(", 1 breach")
    assert title_of(two).endswith(", 2 breaches")
    assert "1 breach (0)" in summary_text(one).splitlines()[2]
    assert "2 breaches (0)" in summary_text(two).splitlines()[2]
    assert "0 near misses" in summary_text(one)


@pytest.mark.parametrize(
    ("breaches", "words"),
    [(1, "1 przekroczenie terminu"), (2, "2 przekroczenia terminu"), (5, "5 przekroczeń terminu")],
)
def test_polish_counts_breaches_in_its_three_forms(breaches: int, words: str) -> None:
    with i18n.speaking("pl"):
        title, text = title_of(card_with(breaches)), summary_text(card_with(breaches))
    assert title.startswith("Tygodniowe podsumowanie Ticketbell: ")
    assert title.endswith(f", {words}")
    assert f"{words} (0)" in text.splitlines()[2]


# --------------------------------------------------------------------------- the scorecard


def test_the_scorecard_text_in_german() -> None:
    with i18n.speaking("de"):
        title, text = title_of(card_with(1)), summary_text(card_with(1))
    assert title == (
        "Ticketbell-Wochenbilanz: 9 beantwortet, 88,9 % in der Frist, 1 Fristverletzung"
    )
    lines = text.splitlines()
    assert lines[0] == (
        "Woche Mo., 16. Nov. 2026 bis So., 22. Nov. 2026 (in Klammern die Woche davor)"
    )
    assert lines[2].startswith("alle Tickets: 9 beantwortet (0↑), 88,9 % in der Frist (-), ")
    assert "Nach Kategorie:" in lines
    assert any(line.startswith("  Sonstige: 1 beantwortet") for line in lines)
    for english in ("answered", "within window", "breach", "Week", "all tickets", "(none)"):
        assert english not in text


def test_uncategorised_tickets_are_the_trays_other_and_last() -> None:
    """They were "(none)", in English, first."""
    card = card_with(0)
    assert summary_text(card).splitlines()[-1].startswith("  Other: 1 answered")
    assert "(none)" not in report.as_text(card) and "(none)" not in report.as_html(card)


def test_the_scorecard_page_in_german() -> None:
    card = card_with(2)
    with i18n.speaking("de"):
        page = report.as_html(card)
        text = report.as_text(card)
    assert "<html lang='de'>" in page
    assert "<title>Ticketbell-Bilanz: Mo., 16. Nov. 2026 bis So., 22. Nov. 2026</title>" in page
    assert "<h2>Nach Kategorie</h2>" in page and "<th>beantwortet</th>" in page
    assert "<p>Mo., 16. Nov. 2026 bis So., 22. Nov. 2026; in Klammern die 7 Tage davor.</p>" in page
    assert "<td>alle Tickets</td>" in page and "<td>Sonstige</td>" in page
    assert "<span class='now'>77,8</span>" in page  # the share within window, a decimal comma
    lines = text.splitlines()
    assert lines[0] == "Ticketbell-Bilanz: Mo., 16. Nov. 2026 bis So., 22. Nov. 2026"
    assert lines[1] == "in Klammern die 7 Tage davor; Wartezeiten und Verspätung in Minuten"
    assert lines[3].split()[:2] == ["Team", "beantwortet"]
    shown = re.sub(r"<[^>]*>", "", page)  # what the reader sees: not the data-* attributes
    for english in ("answered", "By category", "all tickets", "in brackets", " to "):
        assert english not in text and english not in shown


def test_one_day_in_polish_and_the_days_before_in_their_forms() -> None:
    one = report.scorecard([], report.Period(MONDAY, MONDAY))
    two = report.scorecard([], report.Period(MONDAY, MONDAY + timedelta(days=1)))
    five = report.scorecard([], report.Period(MONDAY, MONDAY + timedelta(days=4)))
    with i18n.speaking("pl"):
        said = [report.as_text(c).splitlines()[1] for c in (one, two, five)]
    assert said == [
        "w nawiasach poprzedni dzień; oczekiwanie i spóźnienie w minutach",
        "w nawiasach poprzednie 2 dni; oczekiwanie i spóźnienie w minutach",
        "w nawiasach poprzednie 5 dni; oczekiwanie i spóźnienie w minutach",
    ]


def test_the_scorecards_messages_are_in_the_language_asked_for() -> None:
    """What the escalator queues: title, chat text, page and its charts' descriptions in the
    owner's language, whatever the agent speaks; the key line stays as it is."""
    esc = make_config([], digest_to=["json://127.0.0.1:9/hook"]).escalation
    card = report.scorecard(week(MONDAY), WEEK)
    ((_key, record),) = scorecard_messages(MONDAY, card, week(MONDAY), esc, "de")
    assert str(record["title"]).startswith("Ticketbell-Wochenbilanz: ")
    assert str(record["body"]).startswith("Woche Mo., 16. Nov. 2026 bis So., 22. Nov. 2026")
    assert "Ticketbell-Key: " in str(record["body"])
    page = str(record["html"])
    assert "alt='Anteil in der Frist beantwortet pro Tag'" in page
    assert "<h1>Ticketbell-Bilanz</h1>" in page
    ((_key, english),) = scorecard_messages(MONDAY, card, week(MONDAY), esc)
    assert str(english["title"]).startswith("Ticketbell weekly scorecard: ")


def test_the_agent_mails_the_weekly_scorecard_in_the_owners_language(
    owner: Any, clock: Any, mailbox: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduled scorecard's subject, text and page are in the owner's ``language`` ("de"),
    as the digest is, even from an agent speaking English (the tray's language may be
    changed in Settings while it runs; the scorecard followed it only after a restart)."""
    assert i18n.current().code == "en"
    local_at = (clock.now() + timedelta(minutes=30)).astimezone()
    queue = LocalQueue(tmp_path / "data")
    queue.aggregates.replace(week(local_at.date()), local_at.date())
    queue.close()
    config = make_config(
        [{"after": "0m", "notify": ["owner-desktop"]}],
        scorecard_at=local_at.strftime("%a %H:%M"),
        digest_to=[mailbox.url],
    )
    o = owner(replace(config, language="de"))
    o.start()
    o.advance(31 * 60)
    wait_until(lambda: len(mailbox.messages) == 1)
    mail = mailbox.messages[0]
    assert str(mail["Subject"]).startswith("Ticketbell-Wochenbilanz: ")
    assert "Fristverletzung" in str(mail["Subject"])
    page = mail.get_body(preferencelist=("html",)).get_content()
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "<h2>Nach Kategorie</h2>" in page and "alle Tickets" in page
    assert "Nach Kategorie" in text and "in Klammern die 7 Tage davor" in text  # from the page
    for english in ("By category", "answered", "all tickets", "in brackets"):
        assert english not in text


# --------------------------------------------------------------------------- ticketbell report


def _report_args(tmp_path: Path, language: str) -> list[str]:
    queue = LocalQueue(tmp_path / "data")
    queue.aggregates.replace(week(MONDAY), MONDAY)
    queue.close()
    config = tmp_path / "t.toml"
    config.write_text(f'role = "owner"\nlanguage = "{language}"\n', encoding="utf-8")
    span = ["--from", "2026-11-16", "--to", "2026-11-22"]
    return ["report", "--config", str(config), "--data-dir", str(tmp_path / "data"), *span]


def test_report_speaks_the_config_language_and_its_csv_and_json_stay_english(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(i18n, "_chosen", i18n._chosen)  # load_config's i18n.use, undone after
    args = _report_args(tmp_path, "fr")
    sheet, page = tmp_path / "card.csv", tmp_path / "card.html"
    assert main([*args, "--csv", str(sheet), "--html", str(page)]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0] == "Bilan Ticketbell : du lun. 16 nov. 2026 au dim. 22 nov. 2026"
    assert text[3].split()[:2] == ["Équipe", "répondus"]
    assert "<h2>Par catégorie</h2>" in page.read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(sheet.read_text(encoding="utf-8"))))
    assert rows[0] == ["dimension", "value", "metric", "current", "previous", "trend"]
    assert {r[2] for r in rows[1:]} == {m for m, _h in report.METRICS}
    assert {r[5] for r in rows[1:]} <= {"up", "down", "same", ""}
    assert main([*args, "--json"]) == 0
    data = orjson.loads(capsys.readouterr().out)
    assert set(data) == {"period", "previous", "rows"}
    assert data["rows"][0]["dimension"] == "team" and "within" in data["rows"][0]["current"]


def test_report_says_a_wrong_date_in_the_system_language(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parsed before any config is read: in the system's language, as argparse's own words."""
    monkeypatch.setenv("LANGUAGE", "de")
    monkeypatch.setattr(i18n, "_chosen", None)
    with pytest.raises(SystemExit) as done:
        main(["report", "--from", "23.11.2026"])
    assert done.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "ticketbell report: Fehler: Argument --from: "
        "'23.11.2026' ist kein Datum; bitte im Format JJJJ-MM-TT"
    )


def test_the_charts_font_draws_translated_words_without_their_accents() -> None:
    """The PNG charts' 3 x 5 font has no accented letters: "Śr." and "Über" were "?R." and
    "?BER"; they lose their accents instead (the image's description carries the words)."""
    from agent.insight.png import plain

    assert plain("Śr. Über Łódź sáb.") == "SR. UBER LODZ SAB."
