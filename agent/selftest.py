"""``ticketbell --self-test``: does this installation work on this computer?

One line per check, then a verdict. A ``fail`` means Ticketbell cannot do its job here (exit 1);
a ``warn`` means it works with something missing (no tray on this desktop, no sound device, no
keyring). The Qt checks run in a child process (``--self-test-qt``) because a Qt platform plugin
that cannot start aborts the whole process; the parent reports that as a failed check instead.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from agent.i18n import N_, _, ngettext

OK, WARN, FAIL = "ok", "warn", "fail"
#: the verdicts and check names as a person reads them (the Qt child's JSON keeps the English)
SHOWN = {
    OK: N_("OK"),
    WARN: N_("WARN"),
    FAIL: N_("FAIL"),
    "qt platform": N_("qt platform"),
    "tray": N_("tray"),
    "sound": N_("sound"),
    "data dir": N_("data dir"),
    "log dir": N_("log dir"),
    "config": N_("config"),
    "sources": N_("sources"),
    "notifications": N_("notifications"),
    "keyring": N_("keyring"),
    "channels": N_("channels"),
}


def shown(word: str) -> str:
    return _(SHOWN[word]) if word in SHOWN else word


@dataclass(frozen=True)
class Check:
    name: str
    verdict: str  # OK, WARN or FAIL
    detail: str

    def line(self) -> str:
        verdicts = max(len(shown(v)) for v in (OK, WARN, FAIL))
        names = max(len(shown(name)) + 2 for name in SHOWN)
        return f"{shown(self.verdict):<{verdicts}}  {shown(self.name):<{names}}{self.detail}"


def run(config_path: Path, data_dir: Path, log_dir: Path) -> list[Check]:
    """Every check, in the order a person would fix them."""
    return [
        *qt_checks(),
        check_dir("data dir", data_dir, FAIL),
        check_dir("log dir", log_dir, WARN),
        check_config(config_path),
        check_sources(),
        check_notifications(),
        check_keyring(),
        check_channels(),
    ]


def verdict(checks: list[Check]) -> tuple[int, str]:
    """The exit code and the last line."""
    failed = [c.name for c in checks if c.verdict == FAIL]
    warned = sum(c.verdict == WARN for c in checks)
    if failed:
        names = ", ".join(shown(name) for name in failed)
        return 1, _("self-test FAILED: {checks}").format(checks=names)
    if warned:
        said = ngettext(
            "self-test passed with {count} warning",
            "self-test passed with {count} warnings",
            warned,
        )
        return 0, said.format(count=warned)
    return 0, _("self-test passed")


def self_command(*args: str) -> list[str]:
    """How to run this same ticketbell again: the bundle's executable, or the entry module
    (``python -m ticketbell``, which has the tray app's half of the self-test)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, *args]
    return [sys.executable, "-m", "ticketbell", *args]


def qt_checks(timeout: float = 60) -> list[Check]:
    """The Qt platform plugin, the tray and the chime, from a child process."""
    try:
        child = subprocess.run(
            self_command("--self-test-qt"),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        said = _("the Qt check did not finish ({error})").format(error=type(exc).__name__)
        return [Check("qt platform", FAIL, said)]
    checks = []
    for line in child.stdout.splitlines():
        if line.startswith("{"):
            item = orjson.loads(line)
            checks.append(Check(item["name"], item["verdict"], item["detail"]))
    if not checks:
        errors = [line.strip() for line in child.stderr.splitlines() if line.strip()]
        qpa = [e for e in errors if e.startswith("qt.qpa")]
        why = "; ".join(qpa or errors[-1:])[:400]
        platform = os.environ.get("QT_QPA_PLATFORM", _("the default"))
        said = _("Qt could not start with {platform} platform plugin (exit {code}): {why}")
        why = why or _("no message")
        checks.append(
            Check(
                "qt platform", FAIL, said.format(platform=platform, code=child.returncode, why=why)
            )
        )
    return checks


#: the Qt half of the self-test (``ui.selftest.qt_checks``, given by the entry module)
QtChecks = Callable[[], list[Check]]


def qt_child(run_qt_checks: QtChecks | None) -> int:
    """``--self-test-qt``: run the Qt checks here and print them as JSON lines."""
    if run_qt_checks is None:
        results = [Check("qt platform", FAIL, _("`python -m agent` has no tray app to check"))]
    else:
        results = run_qt_checks()
    for check in results:
        print(orjson.dumps(check.__dict__).decode(), flush=True)
    return 0


def check_dir(name: str, folder: Path, severity: str) -> Check:
    probe = folder / f".self-test-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as fh:
            fh.write(b"ticketbell")
            fh.flush()
            os.fsync(fh.fileno())
        probe.unlink()
    except OSError as exc:
        said = _("{folder} is not writable ({error})")
        return Check(name, severity, said.format(folder=folder, error=exc.strerror or exc))
    return Check(name, OK, _("{folder} is writable").format(folder=folder))


def check_config(path: Path) -> Check:
    from agent import config

    if not path.exists():
        said = _("not set up yet ({path} will be written by the first run)")
        return Check("config", OK, said.format(path=path))
    try:
        cfg = config.load(path)
    except config.ConfigError as exc:
        return Check("config", FAIL, str(exc))
    n = len(cfg.sources)
    said = ngettext(
        "{path}: {count} source, role {role}", "{path}: {count} sources, role {role}", n
    )
    return Check("config", OK, said.format(path=path, count=n, role=cfg.role))


def check_sources() -> Check:
    """Every helpdesk kind loads (in a bundle, a kind missing from the hidden imports fails)."""
    from agent.sources import KINDS, source_class

    broken = []
    for kind in KINDS:
        try:
            source_class(kind)
        except (ImportError, AttributeError) as exc:
            broken.append(f"{kind} ({exc})")
    if broken:
        return Check("sources", FAIL, _("cannot load: {kinds}").format(kinds=", ".join(broken)))
    said = _("{count} helpdesk kinds load: {kinds}")
    return Check("sources", OK, said.format(count=len(KINDS), kinds=", ".join(KINDS)))


def check_notifications() -> Check:
    """plyer's backend for this OS (imported by name at run time, so a bundle may lack it)."""
    from plyer.utils import platform

    try:
        importlib.import_module(f"plyer.platforms.{platform}.notification")
    except ImportError as exc:
        severity = WARN if platform == "macosx" else FAIL  # the tray app notifies through Qt there
        said = _("plyer's {platform} backend is missing ({error})")
        return Check("notifications", severity, said.format(platform=platform, error=exc))
    if platform == "linux":
        try:
            import dbus  # noqa: F401 - one of the two ways plyer reaches the desktop
        except ImportError:
            if not shutil.which("notify-send"):
                return Check(
                    "notifications",
                    WARN,
                    _(
                        "headless mode cannot notify: neither python-dbus nor notify-send "
                        "(package libnotify-bin) is installed"
                    ),
                )
    return Check("notifications", OK, _("plyer {platform} backend loads").format(platform=platform))


def check_keyring() -> Check:
    from agent.secrets import keyring_available

    available, backend = keyring_available()
    if available:
        return Check("keyring", OK, _("tokens are stored in {backend}").format(backend=backend))
    said = _(
        "no usable keyring ({backend}); until one (e.g. GNOME Keyring or KWallet) is "
        "available, tokens come from environment variables (secret_env) or from a file only "
        "your user account can read (`secret set NAME --to-file`)"
    )
    return Check("keyring", WARN, said.format(backend=backend))


def check_channels() -> Check:
    """Escalation channels: apprise finds its plugins by listing a folder, fragile when frozen."""
    try:
        import apprise

        schemas = len(apprise.Apprise().details().get("schemas", []))
    except Exception as exc:  # noqa: BLE001 - any failure here means "no channels"
        said = _("apprise does not load ({error})").format(error=f"{type(exc).__name__}: {exc}")
        return Check("channels", FAIL, said)
    if not schemas:
        return Check("channels", FAIL, _("apprise found no notification services"))
    said = _("{count} escalation channel types (apprise)").format(count=schemas)
    return Check("channels", OK, said)
