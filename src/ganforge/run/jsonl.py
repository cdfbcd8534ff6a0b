"""JSON Lines streams of a run folder (metrics.jsonl, diagnosis.jsonl): append one object, read all.

A record counts once its newline is on disk. A kill or a full disk during an append can leave a
last line cut short: readers skip it and say so through `notes`, and resume rewrites the file
without it. A bad line before the last one is not something an append leaves behind (the file was
edited or damaged), so it stops the reader with one line naming the file and the line.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import CheckpointError
from ..fileio import append_line, atomic_write


def read_jsonl(path: Path, notes: list[str] | None = None, strict: bool = True) -> list[dict]:
    """The file's records; a cut-off last line is left out and described in `notes` (if given).
    strict=False (a page watching a live run): a bad line anywhere is left out and noted, never raised."""
    if not path.is_file():
        return []
    *complete, tail = path.read_text(errors="replace").split("\n")  # tail: after the last newline
    complete = [(number, line) for number, line in enumerate(complete, 1) if line.strip()]
    records, torn = [], bool(tail.strip())
    for number, line in complete:
        try:
            record = json.loads(line)
        except ValueError as err:
            record, problem = None, err.msg
        else:
            problem = None if isinstance(record, dict) else f"a {type(record).__name__}, not an object"
        if problem is None:
            records.append(record)
        elif number == complete[-1][0] and not torn:  # the last line, garbled by a crash: as if cut off
            torn = True
        elif not strict:
            if notes is not None:
                notes.append(f"{path.name}: line {number} is not a valid record ({problem}); it is left out")
        else:
            raise CheckpointError(f"{path} line {number} is not a valid record ({problem}); the file was "
                                  "edited or damaged: repair or delete that line")
    if torn and notes is not None:
        notes.append(f"{path.name}: ignored a cut-off last line (an interrupted write; resume rewrites the "
                     "file without it)")
    return records


def append_jsonl(path: Path, record: dict) -> None:
    append_line(path, json.dumps(record))


def jsonl_text(records: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def rewrite_jsonl(path: Path, records: list[dict]) -> None:
    text = jsonl_text(records)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
