"""The Linux bundle and .deb, built by packaging/build.py and used the way a person would:
unpacked with `dpkg -x`, the installed binary run offscreen, installed and removed with dpkg.

Slow (a PyInstaller build): `make package-test` runs these, CI in a step of its own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent import __version__
from tests.conftest import ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not sys.platform.startswith("linux") or not shutil.which("dpkg-deb"),
        reason="the .deb is built and checked on Debian-like Linux only",
    ),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "build.py"), "--dist", str(dist)],
        check=True,
        cwd=ROOT,
        timeout=900,
    )
    (deb,) = dist.glob("ticketbell_*.deb")
    return {"bundle": dist / "ticketbell", "deb": deb}


@pytest.fixture(scope="module")
def installed(built, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("root")
    subprocess.run(["dpkg-deb", "-x", str(built["deb"]), str(root)], check=True)
    return root


def app_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "XDG_"))}
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["HOME"] = str(home)
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[var] = str(home / var.lower())
    return env


def run_installed(root: Path, home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(root / "opt" / "ticketbell" / "ticketbell"), *args],
        env=app_env(home),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        cwd=home,
    )


def test_deb_declares_the_package_and_holds_the_app_menu_entry_and_icons(built):
    fields = subprocess.run(
        ["dpkg-deb", "-f", str(built["deb"]), "Package", "Version", "Depends"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Package: ticketbell" in fields
    assert f"Version: {__version__}" in fields
    assert "libxcb-cursor0" in fields
    listing = subprocess.run(
        ["dpkg-deb", "-c", str(built["deb"])], capture_output=True, text=True, check=True
    ).stdout
    assert "./opt/ticketbell/ticketbell\n" in listing
    assert "./usr/bin/ticketbell -> /opt/ticketbell/ticketbell" in listing
    assert "./usr/share/applications/ticketbell.desktop" in listing
    assert "./usr/share/icons/hicolor/256x256/apps/ticketbell.png" in listing
    assert "./usr/share/icons/hicolor/scalable/apps/ticketbell.svg" in listing
    assert "resources/chime.wav" in listing
    unit = ROOT / "packaging" / "linux" / "ticketbell-owner.service"
    assert ("./usr/lib/systemd/user/ticketbell-owner.service" in listing) == unit.exists()


def test_installed_binary_reports_its_version(installed, tmp_path):
    result = run_installed(installed, tmp_path, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"ticketbell {__version__}"


def test_installed_binary_passes_its_self_test(installed, tmp_path):
    result = run_installed(installed, tmp_path, "--self-test")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"ticketbell {__version__} self-test ({installed}/opt/ticketbell/ticketbell)"
    by_name = {line[6:20].strip(): line[:4].strip() for line in lines[1:-1]}
    assert by_name["qt platform"] == "OK"
    assert by_name["sources"] == "OK"  # every kind in agent.sources.KINDS is in the bundle
    assert by_name["notifications"] == "OK"  # plyer's dynamically imported backend too
    assert by_name["channels"] == "OK"  # apprise found its plugins in the frozen app
    assert by_name["data dir"] == "OK"
    assert by_name["tray"] == "WARN"  # offscreen: no tray, a warning and not a crash
    assert lines[-1].startswith("self-test passed")


def test_installed_binary_checks_the_demo_helpdesk(installed, tmp_path):
    result = run_installed(installed, tmp_path, "check", "--demo", "--json")
    assert result.returncode in (1, 2), result.stderr  # waiting (1) or overdue (2)
    report = json.loads(result.stdout)
    assert report["waiting"] == len(report["tickets"]) > 0
    assert report["sources"][0]["health"] == "ok"


def test_installed_binary_speaks_german_with_qts_own_translations(installed, tmp_path):
    """The bundle carries our compiled catalogues and Qt's qtbase_<code>.qm for the languages
    we ship (and no other language's); the installed binary speaks German when asked."""
    bundle = installed / "opt" / "ticketbell"
    assert [p.name for p in bundle.rglob("de/LC_MESSAGES/ticketbell.mo")] == ["ticketbell.mo"]
    qt = sorted(p.name for p in bundle.rglob("translations/*.qm"))
    assert "qtbase_de.qm" in qt and "qtbase_pt_BR.qm" in qt
    assert "qtbase_ja.qm" not in qt and not [n for n in qt if n.startswith("qt_")]
    assert list(bundle.rglob("locale-data/de.dat")) and not list(bundle.rglob("locale-data/ja.dat"))
    result = subprocess.run(
        [str(bundle / "ticketbell"), "check", "--demo"],
        env={**app_env(tmp_path), "LANGUAGE": "de"},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    assert result.returncode in (1, 2), result.stderr
    first, summary = result.stdout.splitlines()[:2]
    assert first.endswith(" — ok") and ("Tickets warten" in first or "Ticket wartet" in first)
    assert "überfällig" in summary


def test_installed_binary_writes_and_removes_its_autostart_entry(installed, tmp_path):
    entry = tmp_path / "xdg_config_home" / "autostart" / "ticketbell.desktop"
    on = run_installed(installed, tmp_path, "autostart", "on")
    assert on.returncode == 0, on.stderr
    fields = dict(line.split("=", 1) for line in entry.read_text().splitlines() if "=" in line)
    assert fields["Exec"] == str(installed / "opt" / "ticketbell" / "ticketbell")
    assert fields["Icon"] == "ticketbell"
    off = run_installed(installed, tmp_path, "autostart", "off")
    assert off.returncode == 0
    assert not entry.exists()


def test_every_bundled_library_finds_its_dependencies(built):
    """Slimming the bundle must not drop a library something kept still links to."""
    internal = built["bundle"] / "_internal"
    env = dict(os.environ, LD_LIBRARY_PATH=f"{internal}:{internal / 'PySide6' / 'Qt' / 'lib'}")
    missing = []
    for lib in sorted(internal.rglob("*.so*")):
        if lib.is_symlink() or not lib.is_file():
            continue
        out = subprocess.run(["ldd", str(lib)], capture_output=True, text=True, env=env).stdout
        missing += [
            f"{lib.relative_to(internal)}: {x.strip()}"
            for x in out.splitlines()
            if "not found" in x
        ]
    assert missing == []


@pytest.mark.skipif(not shutil.which("dpkg"), reason="needs dpkg to install the package")
def test_dpkg_install_then_remove_leaves_nothing_behind(built, tmp_path):
    root = tmp_path / "root"
    admin = root / "var" / "lib" / "dpkg"
    for sub in ("info", "updates"):
        (admin / sub).mkdir(parents=True)
    (admin / "status").touch()
    dpkg = ["dpkg", f"--root={root}", "--force-not-root", "--force-depends"]

    subprocess.run([*dpkg, "-i", str(built["deb"])], check=True, capture_output=True)
    assert (root / "opt" / "ticketbell" / "ticketbell").is_file()
    assert (root / "usr" / "bin" / "ticketbell").readlink() == Path("/opt/ticketbell/ticketbell")
    assert (root / "usr" / "share" / "applications" / "ticketbell.desktop").is_file()

    subprocess.run([*dpkg, "-r", "ticketbell"], check=True, capture_output=True)
    left = [p for p in root.rglob("*") if not p.is_relative_to(root / "var")]
    assert left == []


def test_owner_unit_runs_the_packaged_binary(installed):
    unit = installed / "usr" / "lib" / "systemd" / "user" / "ticketbell-owner.service"
    exec_start = next(x for x in unit.read_text().splitlines() if x.startswith("ExecStart="))
    assert exec_start.startswith("ExecStart=/usr/bin/ticketbell run --headless --role owner")


def test_first_start_runs_the_self_test_silently_into_the_log(installed, tmp_path):
    marker = tmp_path / "xdg_data_home" / "ticketbell" / f".self-test-{__version__}"
    log = tmp_path / "xdg_state_home" / "ticketbell" / "log" / "ticketbell.log"
    app = subprocess.Popen(
        [str(installed / "opt" / "ticketbell" / "ticketbell")],
        env=app_env(tmp_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120  # a deadline for a hung start, not a speed check
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        app.terminate()
        _out, err = app.communicate(timeout=30)
    assert marker.exists()
    text = log.read_text(encoding="utf-8")
    assert "first start: OK    qt platform" in text
    assert "first start: self-test passed" in text
    assert "qt platform" not in err  # silent: nothing on the console when it passes


def test_installed_binary_signs_in_with_a_device_code(installed, tmp_path):
    """authlib works inside the bundle: `ticketbell signin` runs the device flow against the
    suite's local OAuth server, and the person's code is accepted."""
    import re

    import requests
    from werkzeug import Response

    from agent.config import from_dict, save
    from tests.fakes.oauth import DEVICE_GRANT, FakeOAuthServer
    from tests.fakes.web import local_server

    with local_server() as http:
        oauth = FakeOAuthServer(f"http://127.0.0.1:{http.port}", "packaged", "a@example.com")
        http.expect_request(re.compile(".*")).respond_with_handler(
            lambda request: oauth.handle(request) or Response("not found", status=404)
        )
        source = {"name": "Inbox", "kind": "imap", "url": "imaps://127.0.0.1:1", "user": "a@b.c"}
        source |= {"auth": "oauth", "provider": "custom", "issuer": oauth.base}
        save(from_dict({"sources": [{**source, "client_id": "packaged"}]}).raw, tmp_path / "c.toml")
        binary = str(installed / "opt" / "ticketbell" / "ticketbell")
        command = [binary, "signin", "Inbox", "--device", "--config", str(tmp_path / "c.toml")]
        proc = subprocess.Popen(
            command, env=app_env(tmp_path), cwd=tmp_path, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url, code = re.search(r"open (\S+) and enter the code (\S+)\.", line).groups()
        requests.post(url, data={"user_code": code}, timeout=5).raise_for_status()
        out, err = proc.communicate(timeout=120)
    assert oauth.calls[-1] == DEVICE_GRANT and not oauth.devices  # the code was redeemed
    assert "Traceback" not in err
    # Signed in, or (no keyring service in this bare environment) told so in plain words.
    assert "Signed in" in out or "has no keyring service" in err, out + err
