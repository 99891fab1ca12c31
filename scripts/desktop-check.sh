#!/usr/bin/env bash
# Runs `ticketbell --demo` on a private virtual desktop (tray host, notification daemon,
# PulseAudio null sink) and prints what a person would have seen and heard.
#   scripts/desktop-check.sh [OUTDIR]      (default: build/desktop-check)
# While a notification shows (5 s), Qt swaps an SNI tray icon for an "attention" icon; the
# second screenshot is taken after that to show the badge.
# The harness is found in $TICKETBELL_DESKTOP_HARNESS, else in shared/tools/desktop next to the
# repository or next to one of its parent folders (worktrees live a level deeper).
set -eu
repo="$(cd "$(dirname "$0")/.." && pwd)"
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
out="${1:-$repo/build/desktop-check}"
if [ ! -x "$harness/run-in-desktop.sh" ]; then
  echo "desktop-check: no harness at $harness (set TICKETBELL_DESKTOP_HARNESS)" >&2
  exit 2
fi
rm -rf "$out"
"$harness/run-in-desktop.sh" --shots "${SHOTS:-3 13}" --timeout "${TIMEOUT:-16}" "$out" -- \
  "$repo/.venv/bin/ticketbell" --demo
echo "== summary ($out/summary.txt)"
cat "$out/summary.txt"
echo "== notifications"
grep -E "summary|body" "$out/notifications.txt" | head -20 || true
echo "== screenshots: $out/tray-x4.png $(ls "$out"/screen-*s.png 2>/dev/null | tr '\n' ' ')"
grep -q '^audible=yes' "$out/summary.txt" && grep -qE '^notifications=[1-9]' "$out/summary.txt" \
  && grep -qE '^tray_item_appeared_s=[.0-9]' "$out/summary.txt" \
  && echo "desktop-check: PASS (tray item, notification, audible chime)" \
  || { echo "desktop-check: FAIL (see $out)"; exit 1; }
