"""``python -m agent``: the commands only (``check``, ``run --headless``, ``config`` …). The tray
app starts from the entry module, ``ticketbell.py`` (the ``ticketbell`` command)."""

import sys

from agent.cli import main

sys.exit(main())
