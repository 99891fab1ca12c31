#!/usr/bin/env bash
# Opens the tray menu of `ticketbell --demo` on the private virtual desktop (see
# scripts/desktop-check.sh for the harness) by clicking its tray icon with xdotool, and keeps
# the screenshot of the open menu.
#   scripts/desktop-menu.sh [OUTDIR]      (default: build/desktop-menu)
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
"$harness/run-in-desktop.sh" --shots "6" --timeout 9 "$out" -- "$0" --inside
grep -q "clicked the tray icon" "$out/app.log" \
  && echo "desktop-menu: the open menu is in $out/screen-6s.png" \
  || { echo "desktop-menu: FAIL (see $out/app.log)"; exit 1; }
