"""A big batch's journal: what each row's two marks (sending, created) cost, on disk and in time.

Every mark appends one synced line; before a run sends, the journal is written whole once. So the
bytes written grow with the rows (goal: at most 2 KiB per row, whatever the batch's size) and the time
per mark stays flat: the figure judged is the ratio of the time per mark at 5,000 rows to that at
500 rows (goal <= 2). The fsync each mark makes is the disk's own cost, and most of the figure.

    python bench/batch_journal.py [--rows 5000] [--small 500]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from grokdash.batchfile import Defaults, read_batch
from grokdash.batchjournal import CREATED, SENDING, Journal, batches_dir


def run(rows: int) -> tuple[float, int]:
    """Seconds per mark, and bytes written per row, for a batch of `rows`."""
    text = "".join(f"a kite over the bay, take {n}\n" for n in range(rows))
    parsed = read_batch(text, "text", Defaults(model="grok_video3"))
    journal, _ = Journal.open(f"bench-{rows}", "bench.txt", parsed)
    path = batches_dir() / f"bench-{rows}.json"
    started = time.perf_counter()
    try:
        for n, row in enumerate(journal.rows):
            journal.mark(row, SENDING)
            journal.mark(row, CREATED, task_id=f"task_{n:020d}")
    finally:
        journal.close()
    elapsed = time.perf_counter() - started
    return elapsed / (2 * rows), path.stat().st_size // rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--small", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        os.environ["XDG_STATE_HOME"] = state
        small, small_bytes = run(args.small)
        big, big_bytes = run(args.rows)
    print(f"{args.small:>6} rows: {small * 1e3:.3f} ms a mark, {small_bytes} bytes a row on disk")
    print(f"{args.rows:>6} rows: {big * 1e3:.3f} ms a mark, {big_bytes} bytes a row on disk")
    ratio = big / small
    print(f"time per mark, {args.rows} rows / {args.small} rows: {ratio:.2f} (goal <= 2)")
    print(f"bytes per row at {args.rows} rows: {big_bytes} (goal <= 2048)")


if __name__ == "__main__":
    main()
