"""The owner's view: history that lasts (daily aggregates), the scorecard, the forecast.

- :mod:`agent.insight.aggregates` — the daily aggregates' stored form, how outcomes add up,
  percentiles from the wait histogram, and the table inside the queue file (pure but for the
  table, which only touches the queue's in-memory storage).
- :mod:`agent.insight.record` — what the engine calls after a snapshot: the cycles that ended
  measured against the policy's deadlines (business hours), arrivals, unreadable minutes.
- :mod:`agent.insight.report` — the scorecard of a period beside the previous one, and its
  text, HTML, CSV and JSON.
- :mod:`agent.insight.forecast` — the expected breach of each waiting ticket (pure).
- :mod:`agent.insight.replay` — the demo helpdesk's history replayed through the policy.

Nothing here imports Qt.
"""
