"""Resolve merge conflicts in agent/locale/*: every message of both sides, with its translation.

Run from the repository root during a conflicted merge of a branch that added messages:
    python scripts/union-catalogues.py HEAD MERGE_HEAD
then `make translations-update` (drops what the merged code no longer uses) and pytest
tests/test_i18n.py.
"""

import io
import subprocess
import sys

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ours, theirs = sys.argv[1], sys.argv[2]
LANGS = ("de", "es", "fr", "it", "nl", "pl", "pt_BR")


def load(ref: str, path: str) -> Catalog:
    data = subprocess.run(["git", "show", f"{ref}:{path}"], capture_output=True, check=True).stdout
    return read_po(io.BytesIO(data))


for path in ["agent/locale/ticketbell.pot"] + [
    f"agent/locale/{c}/LC_MESSAGES/ticketbell.po" for c in LANGS
]:
    base, other = load(ours, path), load(theirs, path)
    for msg in other:
        if (msg.id and msg.id not in base) or (
            msg.id
            and not msg.fuzzy
            and msg.string
            and (not base[msg.id].string or base[msg.id].fuzzy)
        ):
            base[msg.id] = msg
    with open(path, "wb") as fh:
        write_po(
            fh, base, width=None, sort_output=True, ignore_obsolete=True, include_previous=False
        )
    print("merged", path)
