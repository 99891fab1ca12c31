"""Bulk work without the cyclic garbage collector running through it.

A first sync of a big helpdesk builds tens of thousands of long-lived objects in one go (the
queue's rows, a ``QueuedTicket`` and a ``WaitingTicket`` per ticket, the status): every 700 new
containers start a collection that walks all the young ones again, every tenth walks the
older ones too, and a full collection walks everything. On bench/README.md's 10,000-ticket first
sync that was 130 collections in one cycle (119, 11 and 1 full), for almost nothing to collect:
reference counting frees what these steps throw away. :func:`gc_paused` holds the collector
for one such step and then moves what it built to the oldest generation; the collector runs
again afterwards and collects, at its next full pass, any cycle that did form.
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
def gc_paused() -> Iterator[None]:
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
            if _holders == 0:
                # what the step built is long-lived (the queue's rows, the status): straight to
                # the oldest generation (freeze, then unfreeze: a list move, no walk), so the
                # next young collections do not walk it all again
                gc.freeze()
                gc.unfreeze()
                if _was_enabled:
                    gc.enable()
