#!/usr/bin/env bash
# dist/Ticketbell-VERSION.dmg from dist/Ticketbell.app (made by `python packaging/build.py` on macOS).
#
# Signing and notarisation: Gatekeeper refuses unsigned downloads, so a release needs both.
#   SIGN_IDENTITY   "Developer ID Application: Your Org (TEAMID)" from the login keychain
#   NOTARY_PROFILE  a notarytool keychain profile, made once with
#                   xcrun notarytool store-credentials NAME --apple-id ... --team-id ... --password ...
# Without SIGN_IDENTITY the DMG is built unsigned (fine for testing on the build Mac only).
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(python3 -c 'import agent; print(agent.__version__)')
app=dist/Ticketbell.app
[ -d "$app" ] || { echo "make-dmg: $app is missing; run python packaging/build.py first" >&2; exit 1; }

if [ -n "${SIGN_IDENTITY:-}" ]; then
  codesign --force --deep --options runtime --timestamp \
    --entitlements packaging/macos/entitlements.plist --sign "$SIGN_IDENTITY" "$app"
  codesign --verify --strict --verbose=2 "$app"
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -R "$app" "$stage/"
ln -s /Applications "$stage/Applications"   # drag Ticketbell onto Applications
dmg="dist/Ticketbell-$version.dmg"
rm -f "$dmg"
hdiutil create -volname "Ticketbell $version" -srcfolder "$stage" -fs HFS+ -format UDZO "$dmg"

if [ -n "${SIGN_IDENTITY:-}" ]; then
  codesign --sign "$SIGN_IDENTITY" --timestamp "$dmg"
  if [ -n "${NOTARY_PROFILE:-}" ]; then
    xcrun notarytool submit "$dmg" --keychain-profile "$NOTARY_PROFILE" --wait
    xcrun stapler staple "$dmg"
    spctl --assess --type open --context context:primary-signature --verbose "$dmg"
  fi
else
  echo "make-dmg: $dmg is UNSIGNED; Gatekeeper will refuse it on other Macs" >&2
fi
echo "$dmg"
