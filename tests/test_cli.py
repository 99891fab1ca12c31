"""The `ticketbell` command, run as a subprocess the way scripts and monitors run it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from agent import __version__
from tests.conftest import ROOT, run_cli


def write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "ticketbell.toml"
    path.write_text(body, encoding="utf-8")
    return path


DEMO = '[[sources]]\nname = "Demo"\nkind = "demo"\ninterval = "5s"\n'


def check(tmp_path, cli_env, body: str, *extra: str) -> subprocess.CompletedProcess:
    path = write_config(tmp_path, body)
    return run_cli(
        ["check", "--json", "--config", str(path), "--data-dir", str(tmp_path / "data"), *extra],
        cli_env,
    )


def test_check_demo_json_prints_waiting_tickets_and_a_second_run_knows_them(tmp_path, cli_env):
    args = ["check", "--demo", "--json", "--data-dir", str(tmp_path / "data")]
    first = run_cli(args, cli_env)
    assert first.returncode in (1, 2), first.stderr
    report = json.loads(first.stdout)
    assert set(report) == {"waiting", "overdue", "due_soon", "sources", "tickets"}
    assert report["waiting"] == len(report["tickets"]) > 0
    assert report["sources"] == [
        {
            "name": "Demo helpdesk",
            "kind": "demo",
            "health": "ok",
            "message": "",
            "waiting": report["waiting"],
        }
    ]
    t = report["tickets"][0]
    assert set(t) == {
        "source",
        "id",
        "subject",
        "category",
        "priority",
        "waiting_since",
        "due_at",
        "state",
        "new",
        "url",
        "claimed_by",  # a team's "I'm on it" (agent/team.py); nobody's without [team]
        "claimed_at",
        "at_risk",
        "predicted_breach_at",
    }
    assert all(x["new"] for x in report["tickets"])
    assert all(x["claimed_by"] is None for x in report["tickets"])
    assert t["waiting_since"].endswith("+00:00") and t["due_at"].endswith("+00:00")
    dues = [x["due_at"] for x in report["tickets"]]
    assert dues == sorted(dues)

    second = json.loads(run_cli(args, cli_env).stdout)
    known = {x["id"] for x in report["tickets"]}
    again = [x for x in second["tickets"] if x["id"] in known]
    assert again and not any(x["new"] for x in again)


def test_check_exit_codes_follow_monitoring_plugins(tmp_path, cli_env):
    nothing = check(tmp_path, cli_env, DEMO + 'categories = ["No such category"]\n')
    assert nothing.returncode == 0, nothing.stderr
    assert json.loads(nothing.stdout)["waiting"] == 0

    waiting = check(tmp_path, cli_env, DEMO + '[windows]\ndefault = "30d"\n')
    assert waiting.returncode == 1
    assert json.loads(waiting.stdout)["overdue"] == 0

    overdue = check(tmp_path, cli_env, DEMO + '[windows]\ndefault = "1m"\n')
    assert overdue.returncode == 2
    assert json.loads(overdue.stdout)["overdue"] > 0

    broken = check(tmp_path, cli_env, DEMO.replace('"5s"', '"soon"'))
    assert broken.returncode == 3
    assert "interval" in broken.stderr and "Traceback" not in broken.stderr


def test_check_table_is_readable(tmp_path, cli_env):
    out = run_cli(["check", "--demo", "--data-dir", str(tmp_path / "d")], cli_env)
    assert "Demo helpdesk (demo):" in out.stdout
    assert "STATE" in out.stdout and "SUBJECT" in out.stdout
    assert "(new)" in out.stdout


def test_check_never_counts_a_source_it_could_not_read_as_zero(tmp_path, cli_env):
    """A helpdesk that cannot be read shows "?" and the total says it is a lower bound: the
    table used to print "Desk (json): 0 waiting — FAILED" and "0 waiting, 0 overdue"."""
    from tests.fakes.web import closed_port_url

    body = (
        f'[[sources]]\nname = "Desk"\nkind = "json"\nurl = "{closed_port_url()}/t"\n'
        'secret_env = "DESK_TOKEN"\nfields = { id = "id", created = "created" }\n'
    )
    cli_env["DESK_TOKEN"] = "cli-desk-token-5d1e"
    out = run_cli(
        ["check", "--config", str(write_config(tmp_path, body)), "--data-dir", str(tmp_path)],
        cli_env,
    )
    assert out.returncode == 3
    lines = out.stdout.splitlines()
    assert lines[0].startswith("Desk (json): ? waiting — FAILED: ")
    assert lines[1] == "at least 0 waiting, 0 overdue, 0 due soon: not every helpdesk could be read"
    assert "0 waiting —" not in out.stdout


def test_check_json_never_counts_a_source_it_could_not_read_as_zero(tmp_path, cli_env):
    """The JSON says what the table says ("? waiting", "at least 0 waiting"): it used to say
    `"waiting": 0` for a helpdesk it could not reach, and for one without a token."""
    from tests.fakes.web import closed_port_url

    body = (
        f'[[sources]]\nname = "Desk"\nkind = "json"\nurl = "{closed_port_url()}/t"\n'
        'secret_env = "DESK_TOKEN"\nfields = { id = "id", created = "created" }\n'
        '[[sources]]\nname = "Tokenless"\nkind = "zendesk"\nurl = "https://x.example.com"\n'
        'user = "anna@example.com"\n'
    )
    cli_env["DESK_TOKEN"] = "cli-desk-token-5d1e"
    out = check(tmp_path, cli_env, body)
    assert out.returncode == 3, out.stderr
    report = json.loads(out.stdout)
    assert report["waiting"] is None
    assert report["waiting_at_least"] == 0 and report["blind"] is True
    assert [(s["name"], s["health"], s["waiting"], s["stale"]) for s in report["sources"]] == [
        ("Desk", "failing", None, True),
        ("Tokenless", "failing", None, True),
    ]


def test_check_json_says_why_it_counted_nothing(tmp_path, cli_env):
    """No sources, or a data folder it cannot use: the same error object as a broken config
    (stdout used to be empty), and UNKNOWN."""
    empty = check(tmp_path, cli_env, 'role = "assistant"\n')
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    unusable = check(tmp_path, cli_env, DEMO, "--data-dir", str(tmp_path / "a-file"))
    broken = check(tmp_path, cli_env, DEMO.replace('"5s"', '"soon"'))
    for done, words in (
        (empty, "no [[sources]] configured"),
        (unusable, "cannot use the data folder: "),
        (broken, "interval"),
    ):
        assert done.returncode == 3, done.stderr
        said = json.loads(done.stdout)
        assert said == {"error": said["error"], "waiting": None} and words in said["error"]
        assert done.stderr.startswith("UNKNOWN: ") and "Traceback" not in done.stderr


def test_a_mistyped_check_exits_unknown_not_overdue(cli_env):
    """`check`'s 2 means "something overdue" to a monitor: a usage error (rc 2 from argparse)
    was read as one. It is UNKNOWN (3), said with check's usage; other commands keep 2."""
    for argv in (["check", "--jsn"], ["--bogus", "check"], ["check", "--config"]):
        done = run_cli(argv, cli_env)
        assert done.returncode == 3, (argv, done.stderr)
        assert done.stderr.startswith("usage: ticketbell check ")
        assert done.stderr.splitlines()[-1].startswith("ticketbell check: error: ")
    assert "unrecognized arguments: --jsn" in run_cli(["check", "--jsn"], cli_env).stderr
    other = run_cli(["config", "validate", "--jsn"], cli_env)
    assert other.returncode == 2
    assert other.stderr.splitlines()[-1] == "ticketbell: error: unrecognized arguments: --jsn"


def test_config_validate_path_and_show(tmp_path, cli_env):
    good = write_config(tmp_path, DEMO + 'secret_env = "DEMO_TOKEN"\n')
    out = run_cli(["config", "validate", "--config", str(good)], cli_env)
    assert out.returncode == 0 and "valid" in out.stdout

    bad = tmp_path / "bad.toml"
    bad.write_text('[[sources]]\nname = "X"\nkind = "zendes"\n', encoding="utf-8")
    out = run_cli(["config", "validate", "--config", str(bad)], cli_env)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"ticketbell: {bad}: sources[0].kind: unknown kind 'zendes'; known kinds: "
        + out.stderr.split("known kinds: ")[1].strip()
    ]

    out = run_cli(["config", "path"], cli_env)
    assert out.stdout.strip().endswith("ticketbell.toml")

    show = run_cli(["config", "show", "--config", str(good)], cli_env)
    assert show.returncode == 0
    assert 'name = "Demo"' in show.stdout


def test_run_and_check_without_a_config_say_so(tmp_path, cli_env):
    missing = str(tmp_path / "nope.toml")
    out = run_cli(["run", "--headless", "--config", missing], cli_env)
    assert out.returncode == 2 and "does not exist" in out.stderr
    out = run_cli(["check", "--config", missing], cli_env)
    assert out.returncode == 3 and "does not exist" in out.stderr


def test_sources_lists_the_kinds_with_a_description(cli_env):
    out = run_cli(["sources"], cli_env)
    assert out.returncode == 0
    assert any(
        line.startswith("demo ") and "demo helpdesk" in line for line in out.stdout.splitlines()
    )


def test_version(cli_env):
    out = run_cli(["--version"], cli_env)
    assert out.stdout.strip() == f"ticketbell {__version__}"


def test_secret_set_stores_in_the_keyring_and_show_never_prints_it(tmp_path, cli_env):
    good = write_config(tmp_path, DEMO)
    out = run_cli(["secret", "set", "Demo"], cli_env, input="tok-123456789\n")
    assert out.returncode == 0, out.stderr
    show = run_cli(["config", "show", "--config", str(good)], cli_env)
    assert "tok-123456789" not in show.stdout + show.stderr
    assert "tok-123456789" not in good.read_text(encoding="utf-8")


def test_headless_run_emits_json_events_and_stops_cleanly_on_sigterm(tmp_path, cli_env):
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent",
            "run",
            "--headless",
            "--json",
            "--demo",
            "--no-notify",
            "--data-dir",
            str(data),
        ],
        env=cli_env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        # a first sync announces what it finds in one summary, with its counts
        assert first["event"] == "summary"
        assert first["source"] == "Demo helpdesk"
        assert set(first) == {
            *("event", "source", "ticket", "subject", "at"),
            *("waiting", "new", "overdue", "due_soon", "tickets"),
        }
        assert first["waiting"] == first["new"] == len(first["tickets"]) >= 2
        assert first["subject"].startswith(f"Demo helpdesk: {first['waiting']} waiting")
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "stopping (SIGTERM)" in err and "Traceback" not in err
    events = [first] + [json.loads(line) for line in out.splitlines()]
    new_ids = [e["ticket"] for e in events if e["event"] == "new"]
    assert len(new_ids) == len(set(new_ids))
    # a restart re-alerts nothing that was alerted before
    again = run_cli(["check", "--demo", "--json", "--data-dir", str(data)], cli_env)
    report = json.loads(again.stdout)
    assert not any(t["new"] for t in report["tickets"] if t["id"] in new_ids)
    summarised = [t["ticket"] for t in first["tickets"]]
    assert not any(t["new"] for t in report["tickets"] if t["id"] in summarised)


def test_global_options_count_before_the_command_too(tmp_path, cli_env):
    """`ticketbell -h` shows --config, --data-dir and --demo before COMMAND: they must work
    there as well as after the command, not be silently replaced by the defaults."""
    conf = write_config(tmp_path, DEMO)
    data = tmp_path / "before"

    path = run_cli(["--config", str(conf), "config", "path"], cli_env)
    valid = run_cli(["--config", str(conf), "config", "validate"], cli_env)
    checked = run_cli(["--config", str(conf), "--data-dir", str(data), "check", "--json"], cli_env)
    demo = run_cli(["--demo", "config", "validate"], cli_env)
    after = run_cli(
        ["--config", str(tmp_path / "nope.toml"), "check", "--config", str(conf)], cli_env
    )

    assert path.stdout.strip() == str(conf)
    assert valid.returncode == 0 and valid.stdout.startswith(f"{conf}: valid")
    assert checked.returncode in (0, 1, 2), checked.stderr
    assert json.loads(checked.stdout)["sources"][0]["name"] == "Demo"
    assert (data / "queue.json").exists()
    assert demo.returncode == 0 and "the demo configuration" in demo.stdout
    assert after.returncode != 3, after.stderr  # the later --config wins


def test_python_m_agent_runs_the_commands_and_points_to_the_entry_for_the_tray(tmp_path, cli_env):
    """agent/ never imports the Qt side: `python -m agent` has no tray, and says where it is."""
    done = subprocess.run(
        [sys.executable, "-m", "agent", "--demo", "--data-dir", str(tmp_path / "data")],
        env=cli_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "`python -m ticketbell`" in done.stderr
    assert "Traceback" not in done.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "agent", "sources"],
        env=cli_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0 and "zendesk" in listed.stdout


def test_the_log_file_rotates_through_five_private_copies(tmp_path):
    import logging

    from agent.commands.common import _PrivateLogFile

    path = tmp_path / "ticketbell.log"
    handler = _PrivateLogFile(path, 1000, backups=5)
    logger = logging.getLogger("test-rotation")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        for n in range(400):
            logger.warning("line %03d %s", n, "x" * 40)
    finally:
        logger.removeHandler(handler)
        handler.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["ticketbell.log", *(f"ticketbell.log.{n}" for n in range(1, 6))]
    for p in tmp_path.iterdir():
        assert p.stat().st_size <= 1000 and p.stat().st_mode & 0o777 == 0o600
    assert path.read_text().splitlines()[-1].startswith("line 399 ")
    # the newest copy continues where .2 ended: nothing lost between the files
    first = int((tmp_path / "ticketbell.log.1").read_text().split()[1])
    last_of_2 = int((tmp_path / "ticketbell.log.2").read_text().splitlines()[-1].split()[1])
    assert first == last_of_2 + 1


def test_headless_without_a_desktop_says_so_once_in_its_own_log(tmp_path, cli_env):
    """On a server (no desktop session, no python-dbus) every burst of alerts wrote plyer's
    "UserWarning: The Python dbus package is not installed" (with its file and line) and
    notify-send's own "Cannot autolaunch D-Bus without X11 $DISPLAY" on the agent's stderr,
    and never the log's "desktop notifications are not available here"."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "notify-send"
    calls = tmp_path / "notify-send.calls"
    fake.write_text(
        f'#!/bin/sh\necho "$@" >> {calls}\n'
        'echo "Cannot autolaunch D-Bus without X11 $DISPLAY" >&2\nexit 1\n'
    )
    fake.chmod(0o755)
    env = {k: v for k, v in cli_env.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    env["PATH"] = f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}"
    args = ["run", "--headless", "--demo", "--data-dir", str(tmp_path / "data")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not calls.exists():
            time.sleep(0.1)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert calls.exists(), err  # the notification was tried
    assert "Ticketbell" in calls.read_text()
    assert "Cannot autolaunch" not in err.replace(
        "desktop notifications are not available here (Cannot autolaunch", ""
    )
    assert "UserWarning" not in err and "dbus package" not in err
    assert err.count("desktop notifications are not available here") == 1
