#!/usr/bin/env bash
# Installs the Debian packages Ticketbell needs on this machine, only those missing.
#   scripts/system-deps.sh run    what the tray app needs to show a window and play a sound
#   scripts/system-deps.sh test   the above plus what the test suite runs against (IMAP server...)
#   scripts/system-deps.sh desktop  the above plus a virtual desktop to look at the app
# Needs root (or sudo). On a machine that is not Debian-like it says what to install and goes on.
set -eu
group="${1:-test}"

run_pkgs=(libegl1 libgl1 libfontconfig1 libxkbcommon0 libxkbcommon-x11-0 libdbus-1-3 libpulse0
          libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
          libxcb-randr0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libglib2.0-0 libnotify-bin)
test_pkgs=(dovecot-imapd pulseaudio pulseaudio-utils dbus-daemon mosquitto mosquitto-clients)
# the notification tests' own desktop (tests/desktop.py): X display, dunst, its menu, key presses
test_pkgs+=(xvfb dunst dbus-bin suckless-tools xdotool)
# the access test: Qt's accessibility read over the AT-SPI bus, as a screen reader does
test_pkgs+=(at-spi2-core python3-pyatspi)
desktop_pkgs=(xvfb dbus-x11 dunst pulseaudio pulseaudio-utils sox imagemagick xdotool x11-utils
              x11-xserver-utils libglib2.0-bin bc openbox xfce4-panel trayer suckless-tools)

pkgs=("${run_pkgs[@]}")
case "$group" in
  run) ;;
  test) pkgs+=("${test_pkgs[@]}") ;;
  desktop) pkgs+=("${test_pkgs[@]}" "${desktop_pkgs[@]}") ;;
  *) echo "usage: $0 run|test|desktop" >&2; exit 2 ;;
esac

# A bare Debian python3 has no venv module until python3-venv is installed.
py="${PYTHON:-python3}"
if ! "$py" -c "import ensurepip, venv" >/dev/null 2>&1; then
  ver=$("$py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  pkgs+=("python${ver}-venv")
fi

if ! command -v dpkg >/dev/null 2>&1; then
  echo "system-deps: not a Debian-like system; install the equivalents of: ${pkgs[*]}" >&2
  exit 0
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "system-deps: missing ${missing[*]}; run this script as root to install them" >&2
    exit 1
  fi
fi
echo "system-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
# Dovecot's package enables a system-wide service; the tests start their own on loopback.
if printf '%s\n' "${missing[@]}" | grep -qx dovecot-imapd && command -v systemctl >/dev/null; then
  $sudo systemctl disable --now dovecot >/dev/null 2>&1 || true
fi
# Mosquitto's package enables a system-wide broker too; the team tests start their own.
if printf '%s\n' "${missing[@]}" | grep -qx mosquitto && command -v systemctl >/dev/null; then
  $sudo systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi
