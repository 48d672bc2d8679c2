"""The results: every scenario returns an :class:`Outcome` (rows, notes, lines saying what
was measured, tables); :func:`render` is the one renderer, :func:`save` writes the JSON.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import orjson
from attrs import field, frozen

from bench.stats import Stats

NOISY = 0.15  # share of a core used by other processes that marks a row as disturbed
# what ratios() divides: its key, the Stats field
RATIOS = {"p50": "p50_ms", "p99": "p99_ms", "rps": "rps", "cpu_per_request": "server_cpu_us_per_request"}


@frozen
class Row:
    operation: str
    stats: Stats
    floor: str | None  # the row this one's ratios are over
    throughput_vs_floor: float | None
    # server CPU per request over the floor's: independent of the load generator's speed
    cpu_per_request_vs_floor: float | None
    attempts: int = 1  # runs made, counting those repeated because others disturbed them
    # medians over rounds of the per-round throughput and of its ratio to the same round's
    # floor run (None with one round)
    rps_median: float | None = None
    throughput_vs_floor_median: float | None = None


@frozen
class Table:
    header: tuple[str, ...]
    cells: Sequence[tuple[str, ...]]
    title: str = ""


@frozen
class Outcome:
    rows: list[Row]
    notes: dict[str, Any] = field(factory=dict)
    lines: list[str] = field(factory=list)  # what was measured and how, above the tables
    tables: list[Table] = field(factory=list)


def count_label(count: int) -> str:
    """1k, 100k, 1M, or the count itself."""
    for unit, suffix in ((1_000_000, "M"), (1000, "k")):
        if count % unit == 0:
            return f"{count // unit}{suffix}"
    return str(count)


def num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def markdown(table: Table) -> str:
    lines = [f"{table.title}\n"] if table.title else []
    lines.append("| " + " | ".join(table.header) + " |")
    lines.append("|---|" + "--:|" * (len(table.header) - 1))
    lines += ["| " + " | ".join(row) + " |" for row in table.cells]
    return "\n".join(lines)


def stats_table(rows: Sequence[Row], title: str = "") -> Table:
    """One line per row; with several rounds also the medians of per-round req/s and ratios."""
    median = any(r.rps_median is not None for r in rows)
    head = ["operation", "conc", "req/s", *(["median req/s"] if median else [])]
    head += ["p50 ms", "p99 ms", "p99/p50", "vs floor", *(["median vs floor"] if median else [])]
    head += ["server CPU", "server µs/req", "µs/req vs floor", "load gen CPU", "others' CPU", "errors"]
    cells = []
    for r in rows:
        s = r.stats
        line = [r.operation, str(s.concurrency), num(s.rps, 0), *([num(r.rps_median, 0)] if median else [])]
        line += [num(s.p50_ms), num(s.p99_ms), num(s.p99_ms / s.p50_ms if s.p50_ms else None)]
        line += [num(r.throughput_vs_floor), *([num(r.throughput_vs_floor_median)] if median else [])]
        line += [f"{s.server_cpu:.0%}", num(s.server_cpu_us_per_request, 0), num(r.cpu_per_request_vs_floor)]
        others = f"{s.other_cpu:.0%}" + (" †" if s.other_cpu >= NOISY else "")
        line += [f"{s.client_cpu:.0%}", others, str(s.errors)]
        cells.append(tuple(line))
    return Table(tuple(head), cells, title)


def ratios(rows: Sequence[Row], pairs: Sequence[tuple[str, str, str]]) -> list[dict[str, Any]]:
    """For each (label, operation, base operation) and concurrency: the operation's p50, p99,
    req/s and server CPU per request over the base's."""
    by_key = {(r.operation, r.stats.concurrency): r.stats for r in rows}
    out = []
    for label, name, base_name in pairs:
        for (operation, concurrency), s in by_key.items():
            if operation == name and (base := by_key.get((base_name, concurrency))) is not None:
                ratio = {
                    f"{k}_ratio": getattr(s, field) / getattr(base, field) for k, field in RATIOS.items()
                }
                out.append({"operation": label, "concurrency": concurrency, **ratio})
    return out


def ratio_table(items: list[dict[str, Any]], title: str) -> Table:
    cells = [(r["operation"], str(r["concurrency"]), *(num(r[f"{k}_ratio"]) for k in RATIOS)) for r in items]
    return Table(("operation", "conc", "p50", "p99", "req/s", "server µs/req"), cells, title)


def render(scenario: str, outcome: Outcome, placement: str) -> str:
    parts = [f"## {scenario}", "", f"placement: {placement}", *outcome.lines]
    parts.append(f"CPU columns are shares of one core; † = other processes used over {NOISY:.0%} of a core")
    for table in outcome.tables:
        parts += ["", markdown(table)]
    return "\n".join(parts)


def save(directory: Path, scenario: str, outcome: Outcome, **about: Any) -> Path:
    """``<directory>/<UTC>-<scenario>[-quick].json``: the rows, the notes, and ``about`` (the
    options, the machine, the placement, the wall-clock seconds)."""
    finished = datetime.now(UTC)
    directory.mkdir(parents=True, exist_ok=True)
    quick = "-quick" if about["options"]["quick"] else ""
    path = directory / f"{finished:%Y%m%dT%H%M%SZ}-{scenario}{quick}.json"
    document = {"scenario": scenario, "finished_at": finished.isoformat(), **about}
    document |= {"rows": [attrs.asdict(r) for r in outcome.rows], "notes": outcome.notes}
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))  # NaN becomes null
    return path
