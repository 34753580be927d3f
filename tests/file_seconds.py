"""Seconds per test file, from pytest's ``--durations`` lines, into
tests/file_seconds.json, which orders the files for the xdist workers (conftest.py):
``python tests/file_seconds.py <pytest output with --durations=0>``."""
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

LINE = re.compile(r"^\s*([\d.]+)s\s+(?:setup|call|teardown)\s+(tests/[^:]+)::")


def file_seconds(text: str) -> dict[str, float]:
    seconds: dict[str, float] = defaultdict(float)
    for line in text.splitlines():
        match = LINE.match(line)
        if match:
            seconds[match.group(2)] += float(match.group(1))
    return {path: round(value, 1) for path, value in sorted(seconds.items())}


if __name__ == "__main__":
    table = file_seconds(Path(sys.argv[1]).read_text())
    Path(__file__).with_name("file_seconds.json").write_text(json.dumps(table, indent=1) + "\n")
    print(f"{len(table)} files, {sum(table.values()):.0f} s")
