"""Write the README's option lists from the declarations (agent/config/schema.py and each
source kind's ``required``/``optional``). tests/test_config.py fails when they differ.

    python scripts/readme-options.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.config import schema

BEGIN, END = "<!-- options:begin -->\n", "<!-- options:end -->"


def main() -> int:
    readme = Path(__file__).resolve().parent.parent / "README.md"
    text = readme.read_text(encoding="utf-8")
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    if not rest:
        print(f"{readme.name}: no {BEGIN.strip()} marker", file=sys.stderr)
        return 1
    readme.write_text(head + BEGIN + schema.markdown() + END + tail, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
