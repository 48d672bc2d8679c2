"""Closed-loop load: N workers each issue one request at a time for a fixed duration.

Latencies are wall-clock times of whole requests (send to last response byte) as
the load generator sees them.  Only requests that start after the warm-up and end
before the deadline are counted, so ``requests / duration`` is the throughput of
a steady state.  The server's CPU time over the same window shows whether the
server (near 100 % of its one core) or the load generator was the limit, and the
CPU time every other process used shows whether the machine was quiet.

One run gives a :class:`Sample`; :func:`summarize` pools the samples of several
rounds into :class:`Stats` and keeps their spread, a measure of the noise.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence

from attrs import frozen

from bench.servers import cpu_seconds, system_cpu_seconds

Call = Callable[[], Awaitable[None]]
Close = Callable[[], Awaitable[None]]
# given a concurrency, one call per worker and how to release what they hold
Open = Callable[[int], Awaitable[tuple[list[Call], Close]]]
# one measured run: (concurrency, duration, warmup) -> its Sample; the Python load generator
# (python_load) or an external tool (bench/loads.py)
Load = Callable[[int, float, float], Awaitable["Sample"]]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between ranks."""
    if not sorted_values:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    rank = (len(sorted_values) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


@frozen
class Sample:
    """One measured run: what every request took, and CPU seconds over the window."""

    concurrency: int
    seconds: float
    latencies: list[float]  # seconds, successful requests only
    errors: int
    server_cpu: float
    client_cpu: float
    system_cpu: float  # every core, every process, the kernel
    steal: float
    first_error: str | None = None

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def other_cpu(self) -> float:
        """Share of one core used by everything but the server and the load generator."""
        return max(0.0, self.system_cpu - self.server_cpu - self.client_cpu) / self.seconds


@frozen
class Stats:
    concurrency: int
    rounds: int
    seconds: float
    requests: int
    errors: int
    rps: float
    # per-round throughput: lowest and highest, over the pooled value
    rps_min: float
    rps_max: float
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    # share of one core the server used (1.0 = one full core)
    server_cpu: float
    server_cpu_us_per_request: float
    # median over rounds of the server's CPU per request: steadier than the pooled value
    server_cpu_us_per_request_median: float
    # share of one core the load generator used (all its threads)
    client_cpu: float
    # share of one core used by everything else on the machine (other processes, kernel)
    other_cpu: float
    # share of one core the hypervisor took away
    steal_cpu: float
    first_error: str | None = None

    @property
    def rps_spread(self) -> float:
        """(highest - lowest) per-round throughput over the pooled one: 0 for a steady machine."""
        return (self.rps_max - self.rps_min) / self.rps if self.rps else math.nan


def summarize(samples: Sequence[Sample]) -> Stats:
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(latency for s in samples for latency in s.latencies)
    n = len(ordered)
    seconds = sum(s.seconds for s in samples)
    server = sum(s.server_cpu for s in samples)
    client = sum(s.client_cpu for s in samples)
    system = sum(s.system_cpu for s in samples)
    ms = 1000.0
    per_request = [s.server_cpu / len(s.latencies) * 1e6 for s in samples if s.latencies]
    return Stats(
        concurrency=samples[0].concurrency,
        rounds=len(samples),
        seconds=seconds,
        requests=n,
        errors=sum(s.errors for s in samples),
        rps=n / seconds,
        rps_min=min(s.rps for s in samples),
        rps_max=max(s.rps for s in samples),
        mean_ms=(sum(ordered) / n * ms) if n else math.nan,
        p50_ms=percentile(ordered, 50) * ms,
        p90_ms=percentile(ordered, 90) * ms,
        p99_ms=percentile(ordered, 99) * ms,
        max_ms=(ordered[-1] * ms) if n else math.nan,
        server_cpu=server / seconds,
        server_cpu_us_per_request=(server / n * 1e6) if n else math.nan,
        server_cpu_us_per_request_median=statistics.median(per_request) if per_request else math.nan,
        client_cpu=client / seconds,
        other_cpu=max(0.0, system - server - client) / seconds,
        steal_cpu=sum(s.steal for s in samples) / seconds,
        first_error=next((s.first_error for s in samples if s.first_error), None),
    )


async def run_load(calls: Sequence[Call], *, duration: float, warmup: float, server_pid: int) -> Sample:
    """One worker per call, each looping on its own: ``warmup`` seconds, then ``duration`` measured."""
    concurrency = len(calls)
    if concurrency < 1 or duration <= 0 or warmup < 0:
        raise ValueError("need at least one call, duration > 0 and warmup >= 0")
    latencies: list[float] = []
    errors = 0
    first_error: str | None = None
    clock = time.perf_counter
    begin = clock()
    start = begin + warmup
    end = start + duration

    async def worker(call: Call) -> None:
        nonlocal errors, first_error
        while True:
            t0 = clock()
            if t0 >= end:
                return
            try:
                await call()
            except Exception as exc:
                t1 = clock()
                if start <= t0 and t1 <= end:
                    errors += 1
                    first_error = first_error or f"{type(exc).__name__}: {exc}"
                continue
            t1 = clock()
            if start <= t0 and t1 <= end:
                latencies.append(t1 - t0)

    cpu: list[tuple[float, float, float, float]] = []

    def snapshot() -> None:
        system, steal = system_cpu_seconds()
        cpu.append((cpu_seconds(server_pid), time.process_time(), system, steal))

    async def sample() -> None:
        await asyncio.sleep(max(0.0, start - clock()))
        snapshot()
        await asyncio.sleep(max(0.0, end - clock()))
        snapshot()

    await asyncio.gather(sample(), *(worker(call) for call in calls))
    (server0, client0, system0, steal0), (server1, client1, system1, steal1) = cpu
    return Sample(
        concurrency=concurrency,
        seconds=duration,
        latencies=latencies,
        errors=errors,
        server_cpu=server1 - server0,
        client_cpu=client1 - client0,
        system_cpu=system1 - system0,
        steal=steal1 - steal0,
        first_error=first_error,
    )


def python_load(open_: Open, server_pid: int) -> Load:
    """This process as the load generator: ``run_load`` over the calls ``open_`` makes."""

    async def load(concurrency: int, duration: float, warmup: float) -> Sample:
        calls, close = await open_(concurrency)
        try:
            return await run_load(calls, duration=duration, warmup=warmup, server_pid=server_pid)
        finally:
            await close()

    return load


class Quiet:
    """Keep other processes' work out of the measurements, within a time budget.

    Other processes (a test suite, a build) running during a measurement share the
    cores with the server or the load generator and skew the numbers.  Before each
    run this waits for the machine to go idle; a run during which others still used
    more than ``threshold`` of a core may be repeated.  Waiting and repeating both
    draw on ``budget`` seconds, so the whole benchmark stays bounded.
    """

    def __init__(self, budget: float, threshold: float = 0.15, window: float = 0.25) -> None:
        self.budget = budget
        self.threshold = threshold  # share of one core that still counts as idle
        self.window = window
        self.spent = 0.0

    async def wait(self) -> float:
        """The busy share of the last window: below ``threshold`` unless the budget ran out."""
        while True:
            own0, (busy0, _) = time.process_time(), system_cpu_seconds()
            await asyncio.sleep(self.window)
            own1, (busy1, _) = time.process_time(), system_cpu_seconds()
            other = max(0.0, (busy1 - busy0) - (own1 - own0)) / self.window
            if other < self.threshold or self.spent >= self.budget:
                return other
            self.spent += self.window

    def noisy(self, sample: Sample) -> bool:
        return sample.other_cpu >= self.threshold

    def retry(self, seconds: float) -> bool:
        """Whether a noisy run of ``seconds`` may be repeated (and charge it if so)."""
        if self.spent + seconds > self.budget:
            return False
        self.spent += seconds
        return True
