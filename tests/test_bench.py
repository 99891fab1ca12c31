"""The benchmark helpers' arithmetic and parsing (no timings: benchmarks measure, tests check)."""

from __future__ import annotations

import io

import pytest

from bench.apps import parse_cpu, parse_rss
from bench.cycle import steal_share
from bench.run import (
    Row,
    ratio_row,
    replace_section,
    request_rows,
    seconds,
    steal_note,
)
from bench.team import new_alert_at
from bench.traffic import Count, count

STAT = (
    "4242 (python3 -m (odd) name) S 1 4242 4242 0 -1 4194304 9000 0 12 0 "
    "250 50 0 0 20 0 3 0 100 123456789 4000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1"
)


def test_cpu_seconds_are_utime_plus_stime_even_with_parentheses_in_the_name() -> None:
    assert parse_cpu(STAT, ticks=100) == 3.0


def test_rss_is_read_in_bytes_from_vmrss() -> None:
    text = "Name:\tpython3\nVmPeak:\t  900 kB\nVmRSS:\t   76800 kB\nThreads:\t3\n"
    assert parse_rss(text) == 76800 * 1024


def test_a_ratio_over_its_limit_misses_and_one_at_it_passes() -> None:
    over = ratio_row("x", 2.8, 2.0, seconds, 1.3)
    assert (over.verdict, over.ratio) == ("MISS", 1.4)
    assert ratio_row("x", 2.5, 2.0, seconds, 1.3).verdict == "PASS"


def test_a_figure_that_cannot_be_measured_is_not_a_pass() -> None:
    row = Row("tray start", "—", "0.2 s", None, "≤ 2×", None, None, "no tray app yet")
    assert row.verdict.startswith("MISS")


def test_the_performance_section_is_replaced_and_the_next_section_kept() -> None:
    readme = "# T\n\n## Performance\n\nold table\n\n## Development\n\nmake test\n"
    out = replace_section(readme, "## Performance", "new table")
    assert "old table" not in out
    assert "## Performance\n\nnew table\n\n## Development\n\nmake test\n" in out


def test_a_missing_performance_section_is_appended() -> None:
    out = replace_section("# T\n\nintro\n", "## Performance", "table")
    assert out.endswith("## Performance\n\ntable\n\n")


def test_a_missing_performance_section_goes_before_development() -> None:
    out = replace_section("# T\n\n## Use\n\nx\n\n## Development\n\ny\n", "## Performance", "t")
    assert out == "# T\n\n## Use\n\nx\n\n## Performance\n\nt\n\n## Development\n\ny\n"


def test_request_rows_pass_within_pages_plus_two_and_one_idle_request() -> None:
    good, costly = Count("json", 5, 1, 3, 300), Count("zendesk", 304, 3, 3, 300)
    rows = request_rows([good, costly])
    assert [r.verdict for r in rows] == ["PASS", "PASS", "MISS", "MISS"]
    assert rows[2].value == "304" and rows[2].floor == "3 pages"


def test_a_first_sync_that_misses_tickets_is_not_a_pass() -> None:
    (first, _idle) = request_rows([Count("json", 3, 1, 3, 299)])
    assert first.verdict == "MISS" and "299" in first.note


def test_requests_are_counted_at_the_fake() -> None:
    """The json kind against its fake: three pages of 100, no ETag: the idle poll reads them
    again (three requests, a MISS of the one-request target reported by make bench)."""
    c = count("json", tickets=250)
    assert (c.first_sync, c.pages, c.waiting) == (3, 3, 250)
    assert 1 <= c.idle <= c.pages


def test_a_members_stamp_is_read_for_its_own_ticket() -> None:
    """A team member prints the stamp of each ``new`` alert; the fan-out reads the one asked
    for, passing earlier tickets' lines."""
    lines = io.StringIO("new T0 1764700000.25\nnew T10 1764700000.5\nnew T1 1764700001.125\n")
    assert new_alert_at(lines, "T1") == 1764700001.125


def test_a_member_that_ended_before_its_alert_is_said() -> None:
    with pytest.raises(RuntimeError, match="ended before its new alert for T3"):
        new_alert_at(io.StringIO("new T2 1764700000.0\n"), "T3")


def test_steal_is_the_hypervisors_share_of_the_machines_time() -> None:
    """/proc/stat's cpu counters: user nice system idle iowait irq softirq steal."""
    before = [100, 0, 50, 800, 0, 0, 0, 50]
    after = [160, 0, 70, 880, 0, 0, 0, 90]  # 200 ticks passed, 40 of them stolen
    assert steal_share(before, after) == 0.2
    assert steal_share(None, after) is None
    assert steal_note([0.08, None, 0.1]) == ", steal 8%–10% of the machine's time meanwhile"
    assert steal_note([None]) == ""
    assert steal_note([0.001, 0.0]) == ", steal 0% of the machine's time meanwhile"
