"""`ticketbell --self-test`: one line per check, a verdict, exit 0 only when the essentials work."""

from __future__ import annotations

import re

from agent import __version__
from tests.conftest import run_cli

CHECKS = [
    "qt platform",
    "tray",
    "sound",
    "data dir",
    "log dir",
    "config",
    "sources",
    "notifications",
    "keyring",
    "channels",
]


def lines_by_check(stdout: str) -> dict[str, tuple[str, str]]:
    found = {}
    for line in stdout.splitlines():
        match = re.match(r"(OK|WARN|FAIL)\s+(\S+(?: \S+)?)\s{2,}(.*)", line)
        if match:
            found[match.group(2).strip()] = (match.group(1), match.group(3))
    return found


def test_self_test_offscreen_passes_and_warns_that_there_is_no_tray(tmp_path, cli_env):
    result = run_cli(["--self-test", "--data-dir", str(tmp_path / "data")], cli_env)

    assert result.returncode == 0, result.stdout + result.stderr
    checks = lines_by_check(result.stdout)
    assert list(checks) == CHECKS
    assert checks["qt platform"] == ("OK", checks["qt platform"][1])
    assert "offscreen" in checks["qt platform"][1]
    assert checks["tray"][0] == "WARN"
    assert "no system tray on this desktop" in checks["tray"][1]
    assert checks["sound"][0] in ("OK", "WARN")  # WARN: this machine has no audio device
    assert "chime.wav" in checks["sound"][1]
    assert checks["data dir"][0] == "OK"
    assert checks["sources"][0] == "OK" and "demo" in checks["sources"][1]
    assert checks["keyring"][0] == "OK"  # the test suite's file keyring
    assert result.stdout.splitlines()[0].startswith("ticketbell ")
    assert result.stdout.splitlines()[-1].startswith("self-test passed with ")


def test_self_test_fails_when_the_data_dir_cannot_be_written(tmp_path, cli_env):
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")

    result = run_cli(["--self-test", "--data-dir", str(blocker / "data")], cli_env)

    assert result.returncode == 1
    checks = lines_by_check(result.stdout)
    assert checks["data dir"][0] == "FAIL"
    assert str(blocker / "data") in checks["data dir"][1]
    assert result.stdout.splitlines()[-1] == "self-test FAILED: data dir"


def test_self_test_fails_on_a_broken_config_and_names_the_key(tmp_path, cli_env):
    cfg = tmp_path / "ticketbell.toml"
    cfg.write_text('[[sources]]\nname = "Desk"\nkind = "nosuchkind"\n')

    result = run_cli(["--self-test", "--config", str(cfg)], cli_env)

    assert result.returncode == 1
    verdict, detail = lines_by_check(result.stdout)["config"]
    assert verdict == "FAIL"
    assert "sources[0].kind" in detail


def test_self_test_reports_a_qt_platform_plugin_that_cannot_start_instead_of_crashing(
    tmp_path, cli_env
):
    cli_env["QT_QPA_PLATFORM"] = "nosuchplatform"

    result = run_cli(["--self-test", "--data-dir", str(tmp_path / "data")], cli_env)

    assert result.returncode == 1
    verdict, detail = lines_by_check(result.stdout)["qt platform"]
    assert verdict == "FAIL"
    assert "nosuchplatform" in detail
    assert lines_by_check(result.stdout)["data dir"][0] == "OK"  # the other checks still ran


def test_first_start_self_test_writes_the_log_and_its_marker_and_stays_quiet(tmp_path, cli_env):
    data = tmp_path / "data"
    result = run_cli(["--self-test", "--first-start", "--data-dir", str(data)], cli_env)

    assert result.returncode == 0
    assert result.stderr == ""
    log = (tmp_path / "xdg_state_home" / "ticketbell" / "log" / "ticketbell.log").read_text()
    assert "first start: OK    data dir" in log
    assert "first start: self-test passed" in log
    assert "self-test passed" in (data / f".self-test-{__version__}").read_text()
