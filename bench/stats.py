"""What one measured run gives (:class:`Sample`), and what the rounds of one row pool into
(:class:`Stats`).  Latencies are those of requests that started after the warm-up and ended
before the deadline, so ``requests / seconds`` is a steady state's throughput; the CPU
columns show whether the server (near 100 % of its core) or the load generator was the
limit, and whether other processes left the machine quiet.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Awaitable, Callable, Sequence

from attrs import frozen


def percentiles(values: Sequence[float], *points: int) -> list[float]:
    """The given percentiles (1..99) of ``values``, interpolated between ranks."""
    if len(values) < 2:
        return [values[0] if values else math.nan for _ in points]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return [cuts[p - 1] for p in points]


@frozen
class Sample:
    """One measured run: what every request took, and CPU seconds over the window."""

    concurrency: int
    seconds: float
    latencies: list[float]  # seconds, successful requests only
    errors: int
    first_error: str | None
    server_cpu: float = 0.0
    client_cpu: float = 0.0  # the load generator: the tool and this process
    system_cpu: float = 0.0  # every core, every process, the kernel
    steal: float = 0.0

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def other_cpu(self) -> float:
        """Share of one core used by everything but the server and the load generator."""
        return max(0.0, self.system_cpu - self.server_cpu - self.client_cpu) / self.seconds


# one measured run: (concurrency, duration, warmup) -> its Sample
Load = Callable[[int, float, float], Awaitable[Sample]]


@frozen
class Stats:
    """The samples of one row, pooled; CPU figures are shares of one core (1.0 = a full core)."""

    concurrency: int
    rounds: int
    seconds: float
    requests: int
    errors: int
    rps: float
    rps_min: float  # the lowest and highest per-round throughput
    rps_max: float
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    server_cpu: float
    server_cpu_us_per_request: float
    # median over rounds of the server's CPU per request: steadier than the pooled value
    server_cpu_us_per_request_median: float
    client_cpu: float
    other_cpu: float
    steal_cpu: float  # taken away by the hypervisor
    first_error: str | None = None


def summarize(samples: Sequence[Sample]) -> Stats:
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(latency for s in samples for latency in s.latencies)
    n = len(ordered)
    seconds = sum(s.seconds for s in samples)
    server = sum(s.server_cpu for s in samples)
    client = sum(s.client_cpu for s in samples)
    per_request = [s.server_cpu / len(s.latencies) * 1e6 for s in samples if s.latencies]
    p50, p90, p99 = (1000 * v for v in percentiles(ordered, 50, 90, 99))
    return Stats(
        concurrency=samples[0].concurrency,
        rounds=len(samples),
        seconds=seconds,
        requests=n,
        errors=sum(s.errors for s in samples),
        rps=n / seconds,
        rps_min=min(s.rps for s in samples),
        rps_max=max(s.rps for s in samples),
        mean_ms=1000 * statistics.fmean(ordered) if n else math.nan,
        p50_ms=p50,
        p90_ms=p90,
        p99_ms=p99,
        max_ms=1000 * ordered[-1] if n else math.nan,
        server_cpu=server / seconds,
        server_cpu_us_per_request=server / n * 1e6 if n else math.nan,
        server_cpu_us_per_request_median=statistics.median(per_request) if per_request else math.nan,
        client_cpu=client / seconds,
        other_cpu=max(0.0, sum(s.system_cpu for s in samples) - server - client) / seconds,
        steal_cpu=sum(s.steal for s in samples) / seconds,
        first_error=next((s.first_error for s in samples if s.first_error), None),
    )
