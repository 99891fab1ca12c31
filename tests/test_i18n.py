"""Languages: the catalogues are complete and agree with the code, the language follows the
system and the config, plural forms and local formats are each language's own, and what a
machine or a log reads stays English."""

from __future__ import annotations

import json
import shutil
import string
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po

from agent import i18n
from agent.config import ConfigError, from_dict
from agent.model import SourceHealth
from tests.conftest import ROOT, run_cli

UTC = timezone.utc
SHIPPED = ("de", "es", "fr", "it", "nl", "pl", "pt_BR")
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}


def extracted() -> set[str | tuple[str, ...]]:
    """Every text the code marks for translation, as `make translations-update` extracts it."""
    found: list[tuple[str, ...] | str] = []
    for folder in ("agent", "ui"):
        for *_, message, _comments, _context in extract_from_dir(ROOT / folder, keywords=KEYWORDS):
            found.append(message)
    for _line, message, _comments, _context in extract_from_file(
        "python", ROOT / "ticketbell.py", keywords=KEYWORDS
    ):
        found.append(message)
    return {m if isinstance(m, str) else tuple(m) for m in found}


def catalogue(path: Path) -> Catalog:
    with open(path, "rb") as fh:
        return read_po(fh)


def message_id(message: Message) -> str | tuple[str, ...]:
    return message.id if isinstance(message.id, str) else tuple(message.id)


def placeholders(text: str) -> set[str]:
    """The ``{names}`` of a format string; a broken one (a lone brace) raises ValueError."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def po_path(code: str) -> Path:
    return i18n.LOCALE_DIR / code / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"


# --------------------------------------------------------------------------- the catalogues


def test_the_shipped_languages_are_the_po_files():
    assert i18n.available() == ("en", *SHIPPED)


def test_the_template_holds_exactly_the_texts_of_the_code():
    template = {message_id(m) for m in catalogue(i18n.LOCALE_DIR / "ticketbell.pot") if m.id}
    code = extracted()
    assert code - template == set(), "new texts: run `make translations-update`"
    assert template - code == set(), "texts no longer in the code: run `make translations-update`"


def problems(cat: Catalog, code: str, wanted: set[str | tuple[str, ...]]) -> list[str]:
    """What is wrong with one language's catalogue, one line per fault."""
    out = []
    have = {message_id(m): m for m in cat if m.id}
    out += [f"missing: {mid!r}" for mid in wanted - set(have)]
    out += [f"obsolete: {mid!r}" for mid in set(have) - wanted]
    out += [f"obsolete (#~): {mid!r}" for mid in cat.obsolete]
    rule = get_plural(code)
    if cat.plural_forms != rule.plural_forms:
        out.append(f"Plural-Forms is {cat.plural_forms!r}, not {rule.plural_forms!r}")
    for m in have.values():
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        forms = m.string if isinstance(m.string, tuple) else (m.string,)
        if m.fuzzy or not all(forms):
            out.append(f"untranslated: {ids[0]!r}")
        if m.pluralizable and len(forms) != rule.num_plurals:
            out.append(f"{len(forms)} plural forms, not {rule.num_plurals}: {ids[0]!r}")
        english = set().union(*(placeholders(i) for i in ids))
        for form in forms:
            try:
                same = placeholders(form) == english
            except ValueError:
                same = False
            if not same:
                out.append(f"placeholders differ: {ids[0]!r} -> {form!r}")
    return sorted(out)


@pytest.mark.parametrize("code", SHIPPED)
def test_every_text_is_translated_with_its_placeholders_and_plural_forms(code):
    """No text untranslated (or fuzzy), none obsolete, the English placeholders in every form,
    the plural rule of the language (CLDR, as Babel has it) and as many forms as it counts."""
    assert problems(catalogue(po_path(code)), code, extracted()) == []


def test_the_catalogue_check_finds_each_fault():
    wanted: set[str | tuple[str, ...]] = {"ok", "{count} waiting", ("{n} day", "{n} days")}
    bad = Catalog(locale="fr")
    bad.add("{count} waiting", "{cuont} en attente")
    bad.add(("{n} day", "{n} days"), ("{n} jour", "{n jours"))
    bad.add("gone", "parti")
    bad.add("ok", "d'accord", flags=("fuzzy",))
    bad.obsolete["older"] = Message("older", "plus vieux")
    bad._num_plurals, bad._plural_expr = 2, "(n > 1)"  # the old gettext rule, not CLDR's
    assert problems(bad, "fr", wanted) == sorted(
        [
            "obsolete: 'gone'",
            "obsolete (#~): 'older'",
            f"Plural-Forms is 'nplurals=2; plural=(n > 1);', not {get_plural('fr').plural_forms!r}",
            "untranslated: 'ok'",
            "placeholders differ: '{count} waiting' -> '{cuont} en attente'",
            "placeholders differ: '{n} day' -> '{n jours'",
            "2 plural forms, not 3: '{n} day'",
        ]
    )


# --------------------------------------------------------------------------- choosing a language


@pytest.mark.parametrize(
    ("tags", "code", "formats"),
    [
        (["de_AT.UTF-8"], "de", "de_AT"),
        (["pt_PT.UTF-8"], "pt_BR", "pt_PT"),
        (["pt-BR"], "pt_BR", "pt_BR"),
        (["sv_SE", "fr_FR"], "fr", "fr_FR"),
        (["C.UTF-8"], "en", "en_GB"),
        (["POSIX"], "en", "en_GB"),
        (["en_US.UTF-8", "de"], "en", "en_US"),
        (["xx_YY"], "en", "en_GB"),
        ([], "en", "en_GB"),
    ],
)
def test_choose_takes_the_first_language_we_speak(tags, code, formats):
    chosen = i18n.choose(tags)
    assert (chosen.code, str(chosen.formats)) == (code, formats)


def test_the_system_language_comes_from_the_posix_variables_in_order(monkeypatch):
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "nl_NL.UTF-8")
    assert i18n.choose(i18n.os_languages()).code == "nl"
    monkeypatch.setenv("LC_MESSAGES", "it_IT.UTF-8")
    assert i18n.choose(i18n.os_languages()).code == "it"
    monkeypatch.setenv("LC_ALL", "es_ES.UTF-8")
    assert i18n.choose(i18n.os_languages()).code == "es"
    monkeypatch.setenv("LANGUAGE", "sv:pl")  # a priority list; Swedish is not shipped
    assert i18n.choose(i18n.os_languages()).code == "pl"


def test_macos_language_comes_from_apple_languages(monkeypatch, tmp_path):
    """With no POSIX variable set (an app started from the Dock), `defaults read -g
    AppleLanguages` decides; this fake prints what macOS prints (a plist array)."""
    fake = tmp_path / "defaults"
    fake.write_text("#!/bin/sh\nprintf '(\\n    \"fr-CA\",\\n    en\\n)\\n'\n", encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert i18n._mac_languages() == ["fr-CA", "en"]
    chosen = i18n.choose(i18n._mac_languages())
    assert (chosen.code, str(chosen.formats)) == ("fr", "fr_CA")


def test_windows_language_comes_from_the_user_ui_language(monkeypatch):
    import ctypes
    from types import SimpleNamespace

    kernel32 = SimpleNamespace(GetUserDefaultUILanguage=lambda: 0x0415)  # Polish (Poland)
    monkeypatch.setattr(ctypes, "windll", SimpleNamespace(kernel32=kernel32), raising=False)
    assert i18n._windows_languages() == ["pl_PL"]
    assert i18n.choose(i18n._windows_languages()).code == "pl"


def test_the_config_language_overrides_the_system(monkeypatch):
    monkeypatch.setenv("LANGUAGE", "de")
    try:
        assert i18n.use("").code == "de"
        assert i18n._("overdue") == "überfällig"
        config = from_dict({"language": "fr"})
        assert i18n.use(config.language).code == "fr"
        assert i18n._("overdue") == "en retard"
    finally:
        monkeypatch.delenv("LANGUAGE")
        i18n.use("")


def test_config_refuses_a_language_it_does_not_speak():
    with pytest.raises(ConfigError, match=r"language: 'klingon' is not a language .* de, es"):
        from_dict({"language": "klingon"})
    assert from_dict({}).language == ""
    assert from_dict({"language": "pt_BR"}).language == "pt_BR"


# --------------------------------------------------------------------------- plurals and formats


@pytest.mark.parametrize(
    ("code", "counts"),
    [
        ("de", {1: "1 Ticket wartet", 3: "3 Tickets warten", 0: "0 Tickets warten"}),
        ("fr", {1: "1 ticket en attente", 0: "0 ticket en attente", 3: "3 tickets en attente"}),
        (
            "pl",
            {
                1: "1 zgłoszenie czeka",
                3: "3 zgłoszenia czekają",
                5: "5 zgłoszeń czeka",
                22: "22 zgłoszenia czekają",
                12: "12 zgłoszeń czeka",
            },
        ),
    ],
)
def test_plural_forms_as_the_language_counts(code, counts):
    with i18n.speaking(code):
        for n, text in counts.items():
            assert i18n.ngettext("{count} waiting", "{count} waiting", n).format(count=n) == text


def test_times_and_durations_in_the_locale():
    at = datetime(2026, 11, 23, 14, 5, tzinfo=UTC)  # a Monday
    with i18n.speaking("de"):
        assert i18n.time_text(at, UTC) == "14:05"
        assert i18n.weekday_time(at, UTC) == "Mo., 14:05"
        assert i18n.relative(timedelta(minutes=5)) == "in 5 Min."
        assert i18n.duration(timedelta(minutes=125)) == "2 Std. 5 Min."
        assert i18n.weekday_names()[0] == "Mo."
        assert i18n.day_month(at.date()) == "23.11."  # the dashboard's weeks
    with i18n.speaking("fr"):
        assert i18n.weekday_time(at, UTC) == "lun. 14:05"
        assert i18n.day_month(at.date()) == "23/11"
        assert i18n.relative(timedelta(minutes=5)) == "dans 5\xa0min"
    with i18n.speaking("en_US"):  # the 12-hour clock where that is the custom
        assert i18n.time_text(at, UTC) == "2:05\u202fPM"
        assert i18n.day_month(at.date()) == "11/23"
    with i18n.speaking("C"):  # no language chosen: as Ticketbell always wrote it
        assert i18n.weekday_time(at, UTC) == "Mon 14:05"
        assert i18n.duration(timedelta(minutes=125)) == "2 h 05 min"


def test_escalations_are_written_in_the_owners_language(clock):
    from agent import escalation
    from agent.model import Alert, DueState, Ticket, WaitingTicket
    from agent.storage import alert_key

    now = clock.now()
    ticket = Ticket(
        source="Desk",
        id="7",
        subject="Refund",
        created_at=now - timedelta(hours=2),
        waiting_since=now - timedelta(hours=2),
        priority="high",
    )
    waiting = WaitingTicket(
        ticket,
        due_at=now - timedelta(minutes=25),
        state=DueState.OVERDUE,
        first_seen=ticket.created_at,
    )
    alert = Alert(
        kind="escalated",
        at=now,
        key=alert_key("Desk", "7", ticket.cycle, "escalated"),
        source="Desk",
        ticket="7",
        subject="Refund",
        tickets=(waiting,),
    )
    raw = {
        "language": "de",
        "sources": [{"name": "Desk", "kind": "demo"}],
        "escalation": {"levels": [{"after": "0m", "notify": ["json://127.0.0.1/hook"]}]},
    }
    (_key, record), *_ = escalation.escalation_messages(alert, from_dict(raw), now)
    assert record["title"] == "Seit 25 Min. überfällig: Desk #7 — Refund"
    assert "wartet seit" in record["body"] and "Priorität: high" in record["body"]
    assert "Eskalationsstufe 1 von 1." in record["body"]
    assert i18n.current().code == "en"  # only the message, not the process, spoke German
    # a blind source, found by an agent speaking English, is escalated in German too
    config = from_dict(raw)
    (blind,) = escalation.blind_alerts([failing_health(now)], config.escalation, now, timezone.utc)
    assert blind.message == (
        "Ticketbell cannot read Desk since 08:00: Desk refused access; the token lacks permission"
    )
    (_key, record), *_ = escalation.escalation_messages(blind, config, now)
    german = (
        "Ticketbell kann Desk seit 08:00 nicht lesen: "
        "Desk hat den Zugriff verweigert; dem Token fehlt die Berechtigung"
    )
    assert record["title"] == german and record["body"].startswith(german)
    assert "Bis die Quelle wieder gelesen werden kann, sind ihre wartenden" in record["body"]
    assert "refused access" not in record["body"]
    assert blind.to_json()["subject"] == blind.message  # the JSON output stays English


def failing_health(now: datetime) -> SourceHealth:
    """Desk, failing for two hours: the token lacks permission (a Text, as a connector says)."""
    from agent.i18n import N_, Text
    from agent.model import Health

    said = Text(N_("{name} refused access; the token lacks permission"), name="Desk")
    since = now - timedelta(hours=2)
    return SourceHealth("Desk", "json", Health.FAILING, str(said), failing_since=since, text=said)


def test_the_digest_says_why_a_source_was_blind_in_the_owners_language(clock):
    import orjson

    from agent.digest import digest_text
    from agent.model import Alert
    from agent.storage import LedgerEntry, alert_key, ledger_row

    now = clock.now()
    health = failing_health(now)
    since = health.failing_since
    assert since is not None
    key = alert_key("Desk", "*", since.isoformat(), "source_down")
    down = Alert.of_source(
        "source_down", since, key, "Desk", health.message, english=health.message, said=health.text
    )
    stored = orjson.loads(orjson.dumps(ledger_row(down)))  # as the ledger keeps it
    entry = LedgerEntry.of(stored)
    with i18n.speaking("de"):
        _title, body = digest_text([entry], [], {"Desk": since}, since, now, timezone.utc)
    assert "(Desk hat den Zugriff verweigert; dem Token fehlt die Berechtigung)" in body
    assert "refused access" not in body
    # an entry written before the ledger kept texts says what it recorded
    older = LedgerEntry.of({k: v for k, v in stored.items() if k != "text"})
    with i18n.speaking("de"):
        _title, body = digest_text([older], [], {"Desk": since}, since, now, timezone.utc)
    assert "(Desk refused access; the token lacks permission)" in body


# --------------------------------------------------------------------------- compiling


def test_a_clean_checkout_compiles_in_memory_and_make_translations_writes_mo(tmp_path, monkeypatch):
    copy = tmp_path / "locale"
    shutil.copytree(i18n.LOCALE_DIR, copy, ignore=shutil.ignore_patterns("*.mo"))
    monkeypatch.setattr(i18n, "LOCALE_DIR", copy)
    i18n.catalogue.cache_clear()
    try:
        assert not list(copy.glob("*/LC_MESSAGES/*.mo"))
        assert i18n.catalogue("fr").gettext("overdue") == "en retard"
        written = i18n.compile_all()
        assert sorted(p.parent.parent.name for p in written) == sorted(SHIPPED)
        i18n.catalogue.cache_clear()
        mo = copy / "de" / "LC_MESSAGES" / "ticketbell.mo"
        assert mo.stat().st_size > 0
        assert i18n.catalogue("de").gettext("overdue") == "überfällig"
    finally:
        i18n.catalogue.cache_clear()


# --------------------------------------------------------------------------- the commands


def demo_check(env: dict[str, str], language: str, *extra: str):
    env = {**env, "LANGUAGE": language}
    return run_cli(["check", "--demo", *extra], env)


def test_check_demo_speaks_german(cli_env):
    done = demo_check(cli_env, "de")
    lines = done.stdout.splitlines()
    assert done.returncode in (1, 2), done.stderr
    assert lines[0].startswith("Demo helpdesk (demo): ") and lines[0].endswith(" — ok")
    assert " Tickets warten" in lines[0] or " Ticket wartet" in lines[0]
    assert "überfällig" in lines[1] and "bald fällig" in lines[1]
    assert lines[3].split() == ["STATUS", "FÄLLIG", "QUELLE", "ID", "KATEGORIE", "BETREFF"]
    assert any("im Plan" in line or "überfällig" in line for line in lines[4:])
    assert "waiting" not in done.stdout and "overdue" not in done.stdout


def test_check_demo_speaks_french(cli_env):
    done = demo_check(cli_env, "fr")
    lines = done.stdout.splitlines()
    assert done.returncode in (1, 2), done.stderr
    assert "tickets en attente" in lines[0] or "ticket en attente" in lines[0]
    assert "en retard" in lines[1]
    assert lines[3].split() == ["ÉTAT", "ÉCHÉANCE", "SOURCE", "ID", "CATÉGORIE", "OBJET"]
    assert "waiting" not in done.stdout and "overdue" not in done.stdout


def test_help_and_usage_errors_speak_the_system_language(cli_env):
    """Our options' help and argparse's own words ("usage:", "options", its error lines)."""
    env = {**cli_env, "LANGUAGE": "de"}
    done = run_cli(["--help"], env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Aufruf: ticketbell ")
    assert "Optionen:" in done.stdout and "Positionsargumente:" in done.stdout
    assert "diese Hilfe zeigen und beenden" in done.stdout
    assert "einmal abfragen und ausgeben, was wartet" in done.stdout
    assert "--config PFAD" in done.stdout
    assert "show" not in done.stdout and "the " not in done.stdout
    wrong = run_cli(["check", "--bogus"], {**cli_env, "LANGUAGE": "fr"})
    assert wrong.returncode == 3  # check's usage errors are UNKNOWN: its 2 means overdue
    assert (
        wrong.stderr.splitlines()[-1]
        == "ticketbell check : erreur : arguments non reconnus : --bogus"
    )


def test_json_output_and_log_stay_english(cli_env, tmp_path):
    done = demo_check(cli_env, "de", "--json")
    report = json.loads(done.stdout)
    assert set(report) == {"waiting", "overdue", "due_soon", "sources", "tickets"}
    assert report["sources"][0]["health"] == "ok"
    assert {t["state"] for t in report["tickets"]} <= {"fine", "due_soon", "overdue"}
    assert "Ticket" not in done.stdout.replace("tickets", "")  # no German words
    verbose = demo_check(cli_env, "de", "-v")
    log = Path(cli_env["XDG_STATE_HOME"]) / "ticketbell" / "log" / "ticketbell.log"
    logged = log.read_text(encoding="utf-8") + verbose.stderr
    assert "Demo helpdesk: " in logged and " waiting (" in logged
    for german in ("Ticket wartet", "Tickets warten", "überfällig", "Quelle", "fällig"):
        assert german not in logged


def test_config_validate_speaks_the_config_language(cli_env, tmp_path):
    path = tmp_path / "ticketbell.toml"
    path.write_text(
        'language = "es"\n[[sources]]\nname = "Desk"\nkind = "demo"\n', encoding="utf-8"
    )
    done = run_cli(["--config", str(path), "config", "validate"], {**cli_env, "LANGUAGE": "de"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{path}: válida (1 origen, rol assistant)"


def test_self_test_speaks_the_config_language(cli_env, tmp_path):
    path = tmp_path / "ticketbell.toml"
    path.write_text('language = "nl"\n', encoding="utf-8")
    done = run_cli(["--config", str(path), "--self-test"], cli_env)
    lines = done.stdout.splitlines()
    assert lines[0].startswith("ticketbell ") and " zelftest (" in lines[0]
    assert any(line.startswith("OK") and " gegevensmap " in line for line in lines)
    assert lines[-1].startswith(("zelftest geslaagd", "zelftest MISLUKT"))


def test_config_errors_speak_the_persons_language():
    with i18n.speaking("de"), pytest.raises(ConfigError, match="unbekannter Schlüssel; hier"):
        from_dict({"colour": "blue"})
    with i18n.speaking("pl"), pytest.raises(ConfigError, match="nieznany typ 'pigeon'; znane"):
        from_dict({"sources": [{"name": "Desk", "kind": "pigeon"}]})
    broker = {"broker": "mqtt://hub.example.com", "name": "desk", "user": "ana"}
    with i18n.speaking("fr"), pytest.raises(ConfigError, match="doit utiliser TLS"):
        from_dict({"team": broker})


def test_settings_sign_in_explains_itself_in_the_persons_language():
    from agent.connection import source_to_sign_in

    with i18n.speaking("it"):
        said = source_to_sign_in({"name": "Desk", "kind": "demo"})
    assert said == "Imposta prima «Accesso» su oauth, poi premi di nuovo «Accedi…»."


def test_secret_delete_speaks_the_system_language(cli_env):
    done = run_cli(["secret", "delete", "Desk"], {**cli_env, "LANGUAGE": "nl"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "geheim van 'Desk' verwijderd (als er een was)"
