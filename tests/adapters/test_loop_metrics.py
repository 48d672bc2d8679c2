"""The lock-free request metrics expose exactly what prometheus_client's own would."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from adapters.loop_metrics import LoopCounter, LoopHistogram
from adapters.observability import LATENCY_BUCKETS

labels = st.sampled_from(["get_thread", "create_thread", "ThreadService/Get"])
seconds = st.one_of(
    st.floats(min_value=0, max_value=20, allow_nan=False),
    st.sampled_from(LATENCY_BUCKETS),  # exactly on a bucket's upper bound
)


def without_created(text: bytes) -> list[str]:
    return [line for line in text.decode().splitlines() if "_created" not in line]


@given(st.lists(st.tuples(labels, seconds), max_size=60))
def test_same_exposition_as_prometheus_client(observations: list[tuple[str, float]]) -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    counter = LoopCounter("t_requests", "Requests.", ["method"])
    histogram = LoopHistogram("t_seconds", "Latency.", ["method"], LATENCY_BUCKETS)
    ours.register(counter)
    ours.register(histogram)
    reference_counter = Counter("t_requests", "Requests.", ["method"], registry=theirs)
    reference_histogram = Histogram(
        "t_seconds", "Latency.", ["method"], buckets=LATENCY_BUCKETS, registry=theirs
    )
    for method, value in observations:
        counter.cell(method)[0] += 1
        histogram.series(method).observe(value)
        reference_counter.labels(method).inc()
        reference_histogram.labels(method).observe(value)
    assert sorted(without_created(generate_latest(ours))) == sorted(without_created(generate_latest(theirs)))
