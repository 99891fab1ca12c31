#!/usr/bin/env bash
# Opens the tray menu of `ticketbell --demo` on the private virtual desktop (see
# scripts/desktop-check.sh for the harness) by clicking its tray icon with xdotool, and keeps
# the screenshot of the open menu.
#   scripts/desktop-menu.sh [OUTDIR]      (default: build/desktop-menu)
# MENU_KEYS="End Up Up Up Up Return" presses those keys in the open menu (xdotool key names),
# e.g. to open Settings; SHOT_AT (default 6) is when the screenshot is taken, in seconds.
# Inside the harness this script runs itself with --inside: it starts the app, waits for the
# tray host, clicks the rightmost icon of the panel (the only one there) and waits for the app.
set -eu
repo="$(cd "$(dirname "$0")/.." && pwd)"
if [ "${1:-}" = "--inside" ]; then
  "$repo/.venv/bin/ticketbell" --demo &
  app=$!
  sleep "${CLICK_AFTER:-4}"
  panel="$(xdotool search --onlyvisible --class xfce4-panel 2>/dev/null | head -1 || true)"
  [ -n "$panel" ] || panel="$(xdotool search --class trayer 2>/dev/null | tail -1)"
  eval "$(xdotool getwindowgeometry --shell "$panel")"
  xdotool mousemove $((X + WIDTH - 14)) $((Y + HEIGHT / 2)) click 1
  echo "desktop-menu: clicked the tray icon at $((X + WIDTH - 14)),$((Y + HEIGHT / 2))" >&2
  if [ -n "${MENU_KEYS:-}" ]; then
    sleep 1
    # shellcheck disable=SC2086 # one key name a word
    xdotool key --delay 150 $MENU_KEYS
    echo "desktop-menu: pressed $MENU_KEYS" >&2
  fi
  wait "$app"
  exit 0
fi
harness="${TICKETBELL_DESKTOP_HARNESS:-}"
if [ -z "$harness" ]; then
  dir="$repo"
  while [ "$dir" != "/" ]; do
    dir="$(dirname "$dir")"
    if [ -x "$dir/shared/tools/desktop/run-in-desktop.sh" ]; then
      harness="$dir/shared/tools/desktop"; break
    fi
  done
fi
if [ ! -x "$harness/run-in-desktop.sh" ]; then
  echo "desktop-menu: no harness at $harness (set TICKETBELL_DESKTOP_HARNESS)" >&2
  exit 2
fi
out="${1:-$repo/build/desktop-menu}"
rm -rf "$out"
shot="${SHOT_AT:-6}"
"$harness/run-in-desktop.sh" --shots "$shot" --timeout $((shot + 3)) "$out" -- "$0" --inside
grep -q "clicked the tray icon" "$out/app.log" \
  && echo "desktop-menu: the screenshot is $out/screen-${shot}s.png" \
  || { echo "desktop-menu: FAIL (see $out/app.log)"; exit 1; }
