"""The benchmark's parsers: what wrk, h2load and /metrics print becomes the right numbers."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.observability import Metrics
from bench.load_tools import grpc_frame, parse_h2load, parse_wrk, rebuild
from bench.stats import percentiles
from bench.tool_runs import counter, failures, outcomes

GRID = 1000


def grid_of(values: list[float]) -> list[float]:
    """What wrk's ``done`` prints: the midpoint quantiles of the sorted values."""
    ordered = sorted(values)
    return [ordered[min(len(ordered) - 1, int((i + 0.5) / GRID * len(ordered)))] for i in range(GRID)]


@given(st.lists(st.integers(min_value=1, max_value=100_000), min_size=1, max_size=3000))
def test_rebuilt_latencies_keep_the_percentiles(micros: list[int]) -> None:
    values = sorted(m / 1e6 for m in micros)
    rebuilt = rebuild(len(values), values[0], values[-1], grid_of(values))
    assert len(rebuilt) == len(values)
    assert rebuilt == sorted(rebuilt)
    assert rebuilt[0] == values[0] and rebuilt[-1] == values[-1]
    for q in (50, 90, 99):
        # exact to within one grid step of rank, either way
        rank = q / 100 * (len(values) - 1)
        step = len(values) / GRID + 1
        low = values[max(0, int(rank - step))]
        high = values[min(len(values) - 1, int(rank + step) + 1)]
        # (statistics.quantiles interpolates in floating point: allow an ulp or so)
        assert low - 1e-12 <= percentiles(rebuilt, q)[0] <= high + 1e-12


def test_request_counts_read_threadgates_own_exposition() -> None:
    metrics = Metrics()
    for _ in range(3):
        metrics.observe("grpc", "ThreadService/Get", "OK", 0.001)
    before = counter(metrics.exposition().decode(), "threadgate_requests_total")
    metrics.observe("grpc", "ThreadService/Get", "OK", 0.001)
    metrics.observe("grpc", "ThreadService/Get", "NOT_FOUND", 0.001)
    metrics.observe("rest", "get_thread", "200", 0.001)
    after = counter(metrics.exposition().decode(), "threadgate_requests_total")
    assert after[("grpc", "ThreadService/Get", "OK")] == 4
    seen = outcomes(before, after, ("grpc", "ThreadService/Get"))
    assert seen == {"OK": 1, "NOT_FOUND": 1}
    assert failures(("grpc", "ThreadService/Get"), seen) == {"NOT_FOUND": 1}
    assert outcomes(before, after, ("rest", "get_thread")) == {"200": 1}


def test_grpc_frame_and_h2load_output() -> None:
    assert grpc_frame(b"abc") == b"\0" + struct.pack(">I", 3) + b"abc"
    stdout = (
        "finished in 2.00s, 1500.00 req/s, 400KB/s\n"
        "requests: 3000 total, 3002 started, 3000 done, 2999 succeeded, 1 failed, 1 errored, 0 timeout\n"
    )
    log = "1796152144202750\t200\t6516\n1796152144202752\t200\t7572\n1796152144202753\t503\t90\n"
    result = parse_h2load(stdout, log, cpu=0.5)
    assert result.seconds == 2.0 and result.completed == 3000 and result.cpu == 0.5
    assert result.latencies == [0.006516, 0.007572]
    assert result.errors == 1  # one failed request, the one non-200 response
    assert result.error_text == "h2load: 1 failed requests, 1 responses not HTTP 200"


def test_wrk_summary_and_quantiles() -> None:
    stdout = "Running 2s test\nBENCH 2000000 100 0 0 0 1 0 100 900 200 400 600 800\n"
    result = parse_wrk(stdout, cpu=0.25)
    assert result.seconds == 2.0 and result.completed == 100 and result.cpu == 0.25
    assert len(result.latencies) == 99  # the response over 399 is an error, not a latency
    assert result.latencies[0] == 0.0001 and result.latencies[-1] == 0.0009
    assert result.errors == 1 and "1 responses over 399" in str(result.error_text)


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentiles([4.0, 1.0, 3.0, 2.0], 50, 99) == pytest.approx([2.5, 3.97])
    assert percentiles([7.0], 50) == [7.0]
