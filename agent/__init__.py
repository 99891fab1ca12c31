"""Ticketbell's core: sources, local queue, response-window policy and the polling engine.

Nothing under ``agent`` imports Qt; the tray app in ``ui`` renders what this package publishes.
"""

__version__ = "0.1.0"
