"""What a long ingest tells the operator: percent, rows, rate and time left (issue 14)."""

from __future__ import annotations

from broker.service.progress import IngestProgress, ProgressLog


def test_a_text_source_reports_percent_rate_and_time_left_from_the_file_size() -> None:
    progress = IngestProgress("shops", started=100.0)
    progress.update(done=12_000_000, total=48_000_000, rows=50_000)
    # 25% of the bytes in 10 s: 30 s more at that pace; 50,000 rows in 10 s.
    assert progress.line(now=110.0) == ("ingest shops: 25% (12.0 of 48.0 MB), 50,000 rows, "
                                        "5,000 rows/s, about 30 s left")


def test_an_unknown_total_gives_rows_and_rate_but_no_made_up_percent() -> None:
    progress = IngestProgress("sheet", started=0.0)
    progress.update(done=4_000, total=0, rows=4_000)  # xlsx: the reader counts rows
    assert progress.fraction() is None and progress.seconds_left(now=2.0) is None
    assert progress.line(now=2.0) == "ingest sheet: 4,000 rows, 2,000 rows/s"


def test_long_runs_say_minutes_and_hours() -> None:
    progress = IngestProgress("big", started=0.0)
    progress.update(done=1, total=100, rows=10)
    assert progress.line(now=60.0).endswith("about 1.6 h left")  # 99 x 60 s
    progress.update(done=50, total=100, rows=10)
    assert progress.line(now=600.0).endswith("about 10 min left")
    progress.update(done=5, total=1000, rows=10)  # under 1%: too early to tell
    assert progress.line(now=1.0).endswith("10 rows/s")


def test_the_log_writes_at_most_once_per_interval() -> None:
    lines: list[str] = []
    log = ProgressLog(IngestProgress("s"), lines.append, every=3600.0)
    log(10, 100, 1)
    log(20, 100, 2)
    assert lines == []  # an hour has not passed
    every_time = ProgressLog(IngestProgress("s"), lines.append, every=0.0)
    every_time(10, 100, 1)
    every_time(100, 100, 10)
    assert len(lines) == 2 and lines[1].startswith("ingest s: 100% (0.1 of 0.1 kB), 10 rows")
