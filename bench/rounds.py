"""Measuring targets in interleaved rounds: every target at every concurrency once per
round, so slow drifts in the machine's speed fall on every operation alike rather than on
whichever ran last; a run disturbed by other processes is repeated within a budget.
"""

from __future__ import annotations

import itertools
import statistics
import time

from attrs import evolve, frozen

from bench.cpus import Placement, Quiet
from bench.report import Row
from bench.stats import Load, Sample, Stats, percentiles, summarize
from testkit.server import Server


@frozen
class Options:
    concurrency: tuple[int, ...]
    duration: float  # seconds measured per run
    warmup: float  # seconds of unmeasured load before each run
    rounds: int
    sizes: tuple[int, ...]  # list-scaling: messages per thread
    quick: bool
    quiet_budget: float  # seconds the run may spend waiting out, or repeating runs disturbed by, others
    attempts: int  # runs at most per measurement when other processes disturb them
    backend: str = "sqlite"  # ops: "sqlite" or "postgresql"


@frozen
class Context:
    placement: Placement
    options: Options
    quiet: Quiet


@frozen
class Target:
    """One operation to measure, on one server."""

    name: str
    server: Server
    load: Load
    floor: str | None  # the target whose numbers this one's are divided by


_STARTED = time.monotonic()


def log(text: str) -> None:
    print(f"[bench {time.monotonic() - _STARTED:5.1f}s] {text}", flush=True)


def runs_line(options: Options) -> str:
    rounds = f"{options.rounds} rounds, interleaved, pooled; 'median': of per-round values and ratios"
    rounds = rounds if options.rounds > 1 else "1 round"
    return f"each run: {options.warmup:g}s warm-up, then {options.duration:g}s measured; {rounds}"


def versus(name: str, stats: Stats, base: Stats | None, floor: str | None = None) -> Row:
    """A row whose ratios are over ``base``'s."""
    rps = stats.rps / base.rps if base else None
    cpu = stats.server_cpu_us_per_request / base.server_cpu_us_per_request if base else None
    return Row(name, stats, floor, rps, cpu)


async def run_once(ctx: Context, target: Target, concurrency: int) -> tuple[Sample, int]:
    """One run, repeated (within the quiet budget) while other processes disturb it: the least
    disturbed run, and how many were made."""
    options, quiet = ctx.options, ctx.quiet
    best: Sample | None = None
    for attempt in range(1, options.attempts + 1):
        await quiet.wait()
        sample = await target.load(concurrency, options.duration, options.warmup)
        if best is None or sample.other_cpu < best.other_cpu:
            best = sample
        if attempt == options.attempts or not quiet.repeat(sample, options.warmup + options.duration):
            break
        log(f"{target.name} c={concurrency}: other processes used {sample.other_cpu:.0%} of a core; again")
    assert best is not None
    return best, attempt


async def measure(ctx: Context, targets: list[Target]) -> list[Row]:
    """Every target at every concurrency, once per round, interleaved; rows with ratios over
    each target's floor at the same concurrency."""
    samples: dict[tuple[str, int], list[Sample]] = {}
    attempts: dict[tuple[str, int], int] = {}
    rounds, levels = ctx.options.rounds, ctx.options.concurrency
    for round_, target, c in itertools.product(range(1, rounds + 1), targets, levels):
        s, tries = await run_once(ctx, target, c)
        samples.setdefault((target.name, c), []).append(s)
        attempts[target.name, c] = attempts.get((target.name, c), 0) + tries
        (p50,) = percentiles(sorted(s.latencies), 50)
        cpu = f"server {s.server_cpu / s.seconds:4.0%} client {s.client_cpu / s.seconds:4.0%}"
        log(
            f"[{round_}/{rounds}] {target.name:<28} c={c:<3} {s.rps:7.0f} req/s  "
            f"p50 {p50 * 1000:6.2f} ms  CPU: {cpu} others {s.other_cpu:4.0%}  errors {s.errors}"
        )
        if not s.latencies:
            raise RuntimeError(f"{target.name}: no request succeeded; first error: {s.first_error}")
    stats = {key: summarize(value) for key, value in samples.items()}
    rows = []
    for target, c in itertools.product(targets, levels):
        mine, floor_runs = samples[target.name, c], samples.get((target.floor or "", c), [])
        row = versus(target.name, stats[target.name, c], stats.get((target.floor or "", c)), target.floor)
        row = evolve(row, attempts=attempts[target.name, c])
        if rounds > 1:
            per_round = [a.rps / b.rps for a, b in zip(mine, floor_runs, strict=False) if b.rps]
            median = statistics.median(per_round) if per_round else None
            row = evolve(
                row, rps_median=statistics.median(x.rps for x in mine), throughput_vs_floor_median=median
            )
        rows.append(row)
    return rows
