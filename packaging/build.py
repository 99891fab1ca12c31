"""Build Ticketbell's bundle for this OS, and on Linux its .deb (`make package` runs this).

    python packaging/build.py [--onefile] [--no-deb] [--dist DIR] [--work DIR]

1. icons: resources/ticketbell.svg rendered to PNG (hicolor sizes), .ico and .icns;
2. PyInstaller with packaging/ticketbell.spec -> DIST/ticketbell/ (macOS: also Ticketbell.app);
3. Linux: DIST/ticketbell_VERSION_ARCH.deb with dpkg-deb (no network): the bundle in
   /opt/ticketbell, /usr/bin/ticketbell, a menu entry and icons, and the owner's systemd user unit.
   Windows and macOS installers are made from the bundle by packaging/windows/ticketbell.iss and
   packaging/macos/make-dmg.sh.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent import __version__  # noqa: E402
from agent.autostart import APP_NAME  # noqa: E402

NAME = "ticketbell"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
DEB_DEPENDS = (
    # what PySide6's xcb platform plugin and QtMultimedia load from the system (not bundled)
    "libc6, libegl1, libgl1, libfontconfig1, libfreetype6, libxkbcommon0, libxkbcommon-x11-0, "
    "libdbus-1-3, libpulse0, libxcb-cursor0, libxcb-icccm4, libxcb-keysyms1, libxcb-image0, "
    "libxcb-render-util0, libxcb-randr0, libxcb-shape0, libxcb-xinerama0, libxcb-xkb1, "
    "libglib2.0-0 | libglib2.0-0t64"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onefile", action="store_true", help="one executable, not a folder")
    parser.add_argument("--no-deb", action="store_true", help="Linux: the bundle only")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder")
    parser.add_argument("--work", type=Path, default=ROOT / "build", help="build folder")
    args = parser.parse_args(argv)

    started = time.monotonic()
    icons = make_icons(args.work / "icons")
    bundle = run_pyinstaller(args.dist, args.work, icons, args.onefile)
    print(f"bundle: {bundle} ({size_mib(bundle):.0f} MiB)")
    if sys.platform.startswith("linux") and not args.no_deb and not args.onefile:
        deb = build_deb(bundle, icons, args.work / "deb", args.dist)
        print(f"deb:    {deb} ({deb.stat().st_size / 2**20:.0f} MiB)")
    print(f"built in {time.monotonic() - started:.0f} s")
    return 0


def size_mib(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 2**20
    return sum(f.lstat().st_size for f in path.rglob("*") if not f.is_dir()) / 2**20


def make_icons(out: Path) -> Path:
    """The app icon in every size and format the three OSes want, from the one SVG."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QImageWriter, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([])
    out.mkdir(parents=True, exist_ok=True)
    svg = ROOT / "resources" / "ticketbell.svg"
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"build: {svg} is not a valid SVG")
    images = {}
    for size in ICON_SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        renderer.render(painter)
        painter.end()
        image.save(str(out / f"ticketbell-{size}.png"))
        images[size] = image
    for fmt, size in (("ico", 256), ("icns", 512)):
        writer = QImageWriter(str(out / f"ticketbell.{fmt}"), fmt.encode())
        if not writer.write(images[size]):
            print(f"build: no .{fmt} icon ({writer.errorString()})", file=sys.stderr)
    shutil.copy2(svg, out / "ticketbell.svg")
    (out / "version_info.txt").write_text(windows_version_info(), encoding="utf-8")
    return out


def windows_version_info() -> str:
    """The version resource Windows shows in the file's properties (PyInstaller's format)."""
    parts = [int(p) for p in __version__.split(".")[:3] if p.isdigit()]
    numbers = (*parts, 0, 0, 0, 0)[:4]
    fields = {
        "CompanyName": APP_NAME,
        "FileDescription": f"{APP_NAME} helpdesk tray",
        "FileVersion": __version__,
        "ProductName": APP_NAME,
        "ProductVersion": __version__,
        "InternalName": NAME,
        "OriginalFilename": f"{NAME}.exe",
    }
    strings = ",\n".join(f"          StringStruct({k!r}, {v!r})" for k, v in fields.items())
    return f"""VSVersionInfo(
  ffi=FixedFileInfo(filevers={numbers}, prodvers={numbers}, mask=0x3f, flags=0x0, OS=0x40004,
                    fileType=0x1, subtype=0x0, date=(0, 0)),
  kids=[
    StringFileInfo([StringTable('040904B0', [
{strings}
    ])]),
    VarFileInfo([VarStruct('Translation', [1033, 1200])])
  ]
)
"""


def run_pyinstaller(dist: Path, work: Path, icons: Path, onefile: bool) -> Path:
    env = dict(os.environ, TICKETBELL_ICONS=str(icons))
    if onefile:
        env["TICKETBELL_ONEFILE"] = "1"
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        str(ROOT / "packaging" / "ticketbell.spec"),
        "--noconfirm",
        "--log-level=WARN",
        "--distpath",
        str(dist),
        "--workpath",
        str(work / "pyinstaller"),
    ]
    subprocess.run(command, check=True, env=env, cwd=ROOT)
    if onefile:
        return dist / (f"{NAME}.exe" if sys.platform == "win32" else NAME)
    return dist / NAME


def deb_architecture() -> str:
    try:
        return subprocess.run(
            ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)


def build_deb(bundle: Path, icons: Path, work: Path, dist: Path) -> Path:
    """A .deb whose every file is listed in its contents, so `dpkg -r` removes all of it.

    No maintainer scripts: the hicolor icon cache and the menu database are refreshed by the
    dpkg triggers of hicolor-icon-theme and desktop-file-utils when those are installed.
    """
    arch = deb_architecture()
    root = work / f"{NAME}_{__version__}_{arch}"
    if root.exists():
        shutil.rmtree(root)
    opt = root / "opt" / NAME
    shutil.copytree(bundle, opt, symlinks=True)
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / NAME).symlink_to(f"/opt/{NAME}/{NAME}")

    apps = root / "usr" / "share" / "applications"
    apps.mkdir(parents=True)
    desktop = (ROOT / "resources" / "ticketbell.desktop").read_text(encoding="utf-8")
    desktop = desktop.replace(f"Exec={NAME}\n", f"Exec={NAME}\nTryExec={NAME}\n")
    (apps / f"{NAME}.desktop").write_text(desktop, encoding="utf-8")
    hicolor = root / "usr" / "share" / "icons" / "hicolor"
    for size in ICON_SIZES:
        folder = hicolor / f"{size}x{size}" / "apps"
        folder.mkdir(parents=True)
        shutil.copy2(icons / f"ticketbell-{size}.png", folder / f"{NAME}.png")
    (hicolor / "scalable" / "apps").mkdir(parents=True)
    shutil.copy2(icons / "ticketbell.svg", hicolor / "scalable" / "apps" / f"{NAME}.svg")

    unit = ROOT / "packaging" / "linux" / "ticketbell-owner.service"
    if unit.exists():
        systemd = root / "usr" / "lib" / "systemd" / "user"
        systemd.mkdir(parents=True)
        text = unit.read_text(encoding="utf-8")
        # the unit as written runs a per-user install; the package's binary is /usr/bin/ticketbell
        lines = [
            f"ExecStart=/usr/bin/{NAME} {line.split(maxsplit=1)[1]}"
            if line.startswith("ExecStart=") and " " in line
            else line
            for line in text.splitlines()
        ]
        (systemd / unit.name).write_text("\n".join(lines) + "\n", encoding="utf-8")

    doc = root / "usr" / "share" / "doc" / NAME
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(
        f"Ticketbell {__version__}\nLicense: MIT (see the project's repository).\n"
        "Bundled: Python, Qt/PySide6 (LGPLv3), and the Python packages listed in pyproject.toml "
        "under their own licenses.\n",
        encoding="utf-8",
    )

    for path in root.rglob("*"):  # predictable modes whatever the umask of the build machine
        if path.is_symlink():
            continue
        executable = path.is_dir() or os.access(path, os.X_OK)
        path.chmod(0o755 if executable else 0o644)
    installed_kib = sum(f.lstat().st_size for f in root.rglob("*") if not f.is_dir()) // 1024
    control = root / "DEBIAN" / "control"
    control.parent.mkdir()
    control.write_text(
        f"""Package: {NAME}
Version: {__version__}
Architecture: {arch}
Maintainer: Ticketbell developers <maintainers@ticketbell.invalid>
Installed-Size: {installed_kib}
Depends: {DEB_DEPENDS}
Recommends: libnotify-bin, gnome-keyring | kwalletmanager | keepassxc
Section: utils
Priority: optional
Description: helpdesk tray agent that rings when tickets wait for a reply
 Ticketbell sits in the system tray, polls your helpdesks, shows how many tickets
 wait for a reply, chimes and notifies, and escalates to the owner when a ticket
 waits past its response window. Start it from the menu; `ticketbell --self-test`
 checks the installation.
""",
        encoding="utf-8",
    )
    dist.mkdir(parents=True, exist_ok=True)
    deb = dist / f"{root.name}.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root), str(deb)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return deb


if __name__ == "__main__":
    sys.exit(main())
