"""Disk trouble: a data folder that refuses writes (read-only, full), a damaged queue file and a
broken config. The agent keeps working from memory and says so, writes again when it can, starts
clean from a damaged queue with a clear message, and names what is wrong in a config.

The tests run as root in CI, where permission bits are ignored, so the refusals are made in ways
root cannot bypass: the queue file's name taken by a folder (the atomic rename fails with
EISDIR), and the real ``open`` of the queue's temporary file failing with ENOSPC or EROFS.
"""

from __future__ import annotations

import errno
import logging
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from agent import storage as storage_module  # where the queue file is written
from agent.queue import QUEUE_FILE, LocalQueue
from tests.conftest import run_cli
from tests.fakes.web import local_server
from tests.reliability.conftest import JSON_KEY, Desk, Run, json_source, wait_until


def break_by_folder(data: Path, monkeypatch: Any) -> Callable[[], None]:
    """The queue file's name is taken by a folder: every atomic replace fails (EISDIR)."""
    path = data / QUEUE_FILE
    path.unlink()
    path.mkdir()
    (path / "x").write_text("keeps the folder non-empty")
    return lambda: shutil.rmtree(path)


def break_by_errno(code: int) -> Callable[[Path, Any], Callable[[], None]]:
    """The disk refuses the queue's temporary file with ``code`` (disk full, read-only)."""

    def breaker(data: Path, monkeypatch: Any) -> Callable[[], None]:
        real_new = storage_module._new_private_file  # the atomic write's temporary file

        def refusing_new(path: str, flags: int) -> int:
            if Path(path).name.startswith(f".{QUEUE_FILE}"):
                raise OSError(code, f"[Errno {code}] {errno.errorcode[code]}", path)
            return real_new(path, flags)

        monkeypatch.setattr(storage_module, "_new_private_file", refusing_new)
        return lambda: monkeypatch.undo()

    return breaker


BREAKERS = {
    "queue path is a folder (EISDIR)": break_by_folder,
    "disk full (ENOSPC)": break_by_errno(errno.ENOSPC),
    "read-only file system (EROFS)": break_by_errno(errno.EROFS),
}


def saved_ids(data: Path) -> set[str]:
    """The ids of the tickets in the queue file (none while it does not exist yet)."""
    try:
        raw = (data / QUEUE_FILE).read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return set()
    return {d["id"] for d in orjson.loads(raw)["tickets"].values()}


@pytest.mark.parametrize("fault", list(BREAKERS))
def test_a_data_folder_that_refuses_writes_keeps_the_agent_working_from_memory(
    fault: str,
    clock: Any,
    start_agent: Callable[..., Run],
    tmp_path: Path,
    monkeypatch: Any,
    caplog: pytest.LogCaptureFixture,
    record_property: Any,
) -> None:
    record_property("fault", f"disk: {fault}")
    caplog.set_level(logging.INFO, logger="agent.queue")
    with local_server() as server:
        desk = Desk("json", server, clock.now())
        desk.add(1, "Before the disk filled")
        run = start_agent(
            {"sources": [json_source("Desk", desk.fake.url)], "alerts": {"remind_every": "off"}},
            {"Desk": JSON_KEY},
        )
        data = run.agent.queue.data_dir
        wait_until(lambda: run.kinds("new") and saved_ids(data) == {"1"}, what="first save")

        heal = BREAKERS[fault](data, monkeypatch)
        desk.add(2, "Arrived while the disk refuses")
        run.advance(64)
        wait_until(
            lambda: run.kinds("new") and len(run.kinds("new")) == 2, what="alert from memory"
        )
        notices = run.agent.status.notices
        assert any("cannot save the queue" in n for n in notices), notices
        assert run.agent.status.waiting == 2
        desk.add(3, "Another one")
        run.advance(64)
        wait_until(lambda: len(run.kinds("new")) == 3, what="still alerting from memory")
        errors = [r for r in caplog.records if "cannot save the queue" in r.getMessage()]
        assert len(errors) == 1 and errors[0].levelno == logging.ERROR  # said once, not per poll
        assert "working from memory" in errors[0].getMessage()

        # The disk is back; nothing changes at the helpdesk, yet the next poll saves.
        heal()
        run.advance(64)
        wait_until(lambda: not run.agent.status.notices, what="the notice goes away")
        wait_until(lambda: saved_ids(data) == {"1", "2", "3"}, what="saved again")
        assert any("saved again" in r.getMessage() for r in caplog.records)
        run.agent.stop()

    # What was alerted from memory is now on disk: a restart repeats none of it.
    queue = LocalQueue(data)
    assert {q.ticket.id for q in queue.waiting()} == {"1", "2", "3"}
    queue.close()


@pytest.mark.parametrize(
    "damage",
    [b'{"tickets": {"1": {"key": "De', b"\x00\x00\x00\x00", b'{"tickets": [1, 2]}', b"[]"],
    ids=["cut off", "zeros", "wrong shape", "a list"],
)
def test_a_damaged_queue_is_moved_aside_and_the_agent_starts_clean(
    damage: bytes,
    clock: Any,
    start_agent: Callable[..., Run],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    record_property: Any,
) -> None:
    record_property("fault", f"damaged queue file: {damage[:12]!r}")
    data = tmp_path / "data0"  # where start_agent puts its first queue
    data.mkdir()
    (data / QUEUE_FILE).write_bytes(damage)
    with local_server() as server:
        desk = Desk("json", server, clock.now())
        desk.add(1, "Still shown after the damage")
        run = start_agent(
            {"sources": [json_source("Desk", desk.fake.url)], "alerts": {"remind_every": "off"}},
            {"Desk": JSON_KEY},
        )
        wait_until(lambda: run.agent.status.waiting == 1, what="works after recovery")
        notices = run.agent.status.notices
        aside = list(data.glob(f"{QUEUE_FILE}.corrupt-*"))
        assert len(aside) == 1 and aside[0].read_bytes() == damage  # kept for a person to see
        assert any("damaged" in n and aside[0].name in n for n in notices), notices
        assert any(
            "moved" in r.getMessage() and aside[0].name in r.getMessage() for r in caplog.records
        )
        wait_until(lambda: saved_ids(data) == {"1"}, what="a fresh queue file")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('role = "owner"\n[[sources]\nname = "x"', r"is not valid TOML"),
        ("\x00\x01\x02", r"is not valid TOML"),
        (b"\xff\xfe\x00role".decode("latin-1"), r"cannot read the file|is not valid TOML"),
        ('role = "boss"', r'role: .boss. is not a role; use "assistant" or "owner"'),
        ('[[sources]]\nname = "A"\nkind = "demo"\ninterval = "-5m"', r"sources\[0\]\.interval"),
    ],
    ids=["broken table", "binary", "not utf-8", "bad role", "negative interval"],
)
def test_a_broken_config_names_the_problem_and_the_headless_agent_does_not_start(
    text: str, expected: str, tmp_path: Path, cli_env: dict[str, str], record_property: Any
) -> None:
    record_property("fault", "broken config file")
    path = tmp_path / "ticketbell.toml"
    path.write_bytes(text.encode("latin-1") if "\xff" in text else text.encode())
    result = run_cli(["run", "--headless", "--config", str(path)], cli_env, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(path) in result.stderr
    assert re.search(expected, result.stderr), result.stderr
    check = run_cli(["check", "--config", str(path)], cli_env, timeout=60)
    assert check.returncode == 3 and "UNKNOWN" in check.stderr and str(path) in check.stderr
