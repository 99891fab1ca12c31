"""The README's pictures of the owner's view, drawn offscreen from the demo's replayed history:
docs/owner-dashboard.png (the dashboard) and docs/owner-scorecard.png (the weekly scorecard
e-mail as a mail client shows its HTML and inline charts).

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/owner-pictures.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QUrl  # noqa: E402
from PySide6.QtGui import QImage, QTextDocument  # noqa: E402
from PySide6.QtWidgets import QApplication, QTextBrowser  # noqa: E402

from agent import policy  # noqa: E402
from agent.config import demo_config, from_dict  # noqa: E402
from agent.insight import report, scorecard  # noqa: E402
from agent.insight.forecast import Outlook  # noqa: E402
from agent.insight.replay import demo_history  # noqa: E402
from agent.model import Status, utcnow  # noqa: E402
from agent.queue import QueuedTicket  # noqa: E402
from agent.sources.demo import demo_tickets  # noqa: E402
from ui.dashboard import Dashboard  # noqa: E402


def main() -> None:
    app = QApplication(sys.argv)
    now = utcnow()
    config = from_dict({**demo_config().raw, "role": "owner"})
    with tempfile.TemporaryDirectory() as tmp:
        days = demo_history(config, now, Path(tmp))
    tickets = demo_tickets("Demo helpdesk", now)
    waiting = policy.evaluate([QueuedTicket(t, t.waiting_since) for t in tickets], config, now)
    outlook = Outlook()
    waiting = outlook.look(waiting, lambda: days, config, now)
    status = Status(now, tuple(waiting), history=outlook.recent)
    dash = Dashboard(status, config, clock=lambda: now)
    dash.resize(1200, 800)
    dash.show()
    app.processEvents()
    dash.grab().save(str(ROOT / "docs" / "owner-dashboard.png"), "PNG")
    today = now.date()
    card = report.scorecard(days, scorecard.week_before(today))
    images = scorecard.charts(card, days)
    page = report.as_html(card, [(f"cid:{name}", alt) for name, _, alt in images])
    mail = QTextBrowser()
    mail.resize(900, 1100)
    for name, png, _ in images:
        mail.document().addResource(
            QTextDocument.ResourceType.ImageResource, QUrl(f"cid:{name}"), QImage.fromData(png)
        )
    mail.setHtml(page)
    mail.show()
    app.processEvents()
    mail.grab().save(str(ROOT / "docs" / "owner-scorecard.png"), "PNG")
    print("wrote docs/owner-dashboard.png and docs/owner-scorecard.png", timedelta(0))


if __name__ == "__main__":
    main()
