"""The results: a table on stdout and a JSON file under bench/results/."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import orjson

from bench.load import Stats
from bench.scenarios import Options, Outcome, Row


def num(value: float | None, digits: int = 2) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}"


def _spread(s: Stats) -> str:
    return "-" if s.rounds < 2 else f"±{s.rps_spread / 2:.0%}"


NOISY = 0.15  # share of a core used by other processes that marks a row as disturbed


def table(rows: list[Row]) -> str:
    """One line per row; with several rounds, also the medians of per-round req/s and of the
    per-round ratio to the floor."""
    median = any(r.rps_median is not None for r in rows)
    extra = " median req/s | median vs floor |" if median else ""
    lines = [
        "| operation | conc | req/s | spread | p50 ms | p99 ms | req/s vs floor |" + extra + " server CPU "
        "| server µs/req | µs/req vs floor | client CPU | others' CPU | errors |",
        "|---|--:|--:|--:|--:|--:|--:|" + ("--:|--:|" if median else "") + "--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        s = r.stats
        mark = " †" if s.other_cpu >= NOISY else ""
        medians = f" {num(r.rps_median, 0)} | {num(r.throughput_vs_floor_median)} |" if median else ""
        lines.append(
            f"| {r.operation} | {s.concurrency} | {num(s.rps, 0)} | {_spread(s)} | {num(s.p50_ms)} "
            f"| {num(s.p99_ms)} "
            f"| {num(r.throughput_vs_floor)} |{medians} {s.server_cpu:.0%} "
            f"| {num(s.server_cpu_us_per_request, 0)} "
            f"| {num(r.cpu_per_request_vs_floor)} | {s.client_cpu:.0%} | {s.other_cpu:.0%}{mark} "
            f"| {s.errors} |"
        )
    return "\n".join(lines)


def ratio_table(ratios: list[dict[str, Any]]) -> str:
    if not ratios:
        return ""
    small, large = ratios[0]["small"], ratios[0]["large"]
    lines = [
        f"| page | conc | p50 {large} / {small} | p99 {large} / {small} | req/s {large} / {small} "
        f"| server µs/req {large} / {small} |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for r in ratios:
        lines.append(
            f"| {r['page']} | {r['concurrency']} | {r['p50_ratio']:.2f} | {r['p99_ratio']:.2f} "
            f"| {r['rps_ratio']:.2f} | {r['cpu_per_request_ratio']:.2f} |"
        )
    return "\n".join(lines)


def render(scenario: str, outcome: Outcome, placement: str, options: Options) -> str:
    parts = [
        f"## {scenario}",
        "",
        f"placement: {placement}",
        f"each row: {options.rounds} round(s), interleaved, of {options.warmup:g}s warm-up then "
        f"{options.duration:g}s measured; latencies pooled over the rounds; spread = half the range "
        "of per-round req/s over the pooled req/s; CPU columns are shares of one core; "
        f"† = other processes used over {NOISY:.0%} of a core during the runs",
        "",
        table(outcome.rows),
    ]
    ratios = outcome.notes.get("largest_vs_smallest") or []
    if ratios:
        parts += ["", ratio_table(ratios)]
    for fill in outcome.notes.get("fills", []):
        parts.append(
            f"\nfill: {fill['messages']:,} messages via {fill['method']} in {fill['seconds']:.1f}s "
            f"({fill['messages_per_second']:,.0f}/s)"
        )
    return "\n".join(parts)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def save(
    scenario: str,
    outcome: Outcome,
    options: Options,
    machine: dict[str, Any],
    placement: str,
    seconds: float,
    directory: Path,
) -> Path:
    started = datetime.now(UTC)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{started:%Y%m%dT%H%M%SZ}-{scenario}{'-quick' if options.quick else ''}.json"
    document = {
        "scenario": scenario,
        "finished_at": started.isoformat(),
        "wall_seconds": round(seconds, 1),
        "machine": machine,
        "placement": placement,
        "options": attrs.asdict(options),
        "rows": [attrs.asdict(r) for r in outcome.rows],
        "notes": outcome.notes,
    }
    path.write_bytes(orjson.dumps(_jsonable(document), option=orjson.OPT_INDENT_2))
    return path
