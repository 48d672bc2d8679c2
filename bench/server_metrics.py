"""threadgate's own count of what it served, read from ``GET /metrics`` on its REST port.

``threadgate_requests_total`` counts requests by (protocol, method, outcome).  Scraped
before and after a run, it gives the run's errors as the server saw them (h2load cannot
see gRPC status codes); scraped around one real call, it gives the labels that call is
counted under.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

from testkit.server import Server

COUNTER = "threadgate_requests_total"
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
Counts = dict[tuple[str, str, str], float]
Labels = tuple[str, str]  # (protocol, method)
T = TypeVar("T")


def request_counts(exposition: str) -> Counts:
    """``threadgate_requests_total`` from a Prometheus text exposition, by (protocol, method, outcome)."""
    out: Counts = {}
    for line in exposition.splitlines():
        if line.startswith(COUNTER + "{"):
            labels_text, _, value = line[len(COUNTER) + 1 :].rpartition("} ")
            labels = dict(_LABEL.findall(labels_text))
            key = (labels.get("protocol", ""), labels.get("method", ""), labels.get("outcome", ""))
            out[key] = out.get(key, 0.0) + float(value)
    return out


def outcomes(before: Counts, after: Counts, labels: Labels) -> dict[str, int]:
    """How many requests of one method ended in each outcome between two scrapes."""
    deltas = {k[2]: round(v - before.get(k, 0.0)) for k, v in after.items() if k[:2] == labels}
    return {outcome: n for outcome, n in deltas.items() if n}


def failures(labels: Labels, seen: dict[str, int]) -> dict[str, int]:
    """The outcomes that are errors: any gRPC status but OK, any REST status but 2xx."""
    ok = "OK" if labels[0] == "grpc" else "2"
    return {k: v for k, v in seen.items() if not k.startswith(ok)}


async def metrics_text(server: Server) -> str:
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.get(server.origin + "/metrics")
        r.raise_for_status()
        return r.text


async def scrape(server: Server) -> Counts:
    return request_counts(await metrics_text(server))


async def labels_of(server: Server, call: Callable[[], Awaitable[T]]) -> tuple[Labels, T]:
    """The labels threadgate counts ``call`` under (the one method whose count moves, bar the
    scrapes' own), and what ``call`` returned."""
    before = await scrape(server)
    result = await call()
    after = await scrape(server)
    moved = {(k[0], k[1]) for k, v in after.items() if v != before.get(k, 0.0) and k[1] != "metrics"}
    if len(moved) != 1:
        raise RuntimeError(f"expected one method's count to move in /metrics, saw {moved or 'none'}")
    return moved.pop(), result
