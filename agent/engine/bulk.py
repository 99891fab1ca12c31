"""Bulk work without the cyclic garbage collector running through it.

A first sync of a big helpdesk builds tens of thousands of long-lived objects in one go (the
queue's rows, a ``QueuedTicket`` and a ``WaitingTicket`` per ticket, the status): every 700 new
containers start a collection that walks the young ones, every tenth of those walks the older
ones too, and a full collection walks everything, for almost nothing to collect (reference
counting frees what these steps throw away). :func:`gc_held` holds the collector for one such
step; it runs again as soon as the step ends, and collects then whatever the step left (the
count of new objects is kept while it is held, so nothing waits longer than that).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0  # steps in progress that hold the collector, on any thread
_was_enabled = False


@contextmanager
def gc_held() -> Iterator[None]:
    """No automatic collection within this block (nor, meanwhile, on other threads: the
    collector is the process's). Blocks nest and overlap across threads; the collector is
    enabled again when the last one ends, if it was enabled when the first began."""
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()
