"""Many REST writers on one thread, and the check that they got one exact order."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Sequence

from testkit.server import Server


def write_concurrently(servers: Sequence[Server], thread_id: str, writers: int, each: int) -> list[list[str]]:
    """``writers`` clients (spread over ``servers``) each append ``each`` messages in turn;
    returns every writer's message ids in the order it wrote them."""

    def write(job: int) -> list[str]:
        ids = []
        with servers[job % len(servers)].http() as http:
            for i in range(each):
                r = http.post(
                    f"/threads/{thread_id}/messages", json={"role": "user", "content": f"{job}-{i}"}
                )
                assert r.status_code == 200, r.text
                ids.append(r.json()["id"])
        return ids

    with concurrent.futures.ThreadPoolExecutor(writers) as pool:
        return list(pool.map(write, range(writers)))


def assert_one_order(oldest_first: list[str], written: list[list[str]]) -> None:
    """Everything landed once, and each writer's messages keep its own order."""
    assert len(oldest_first) == len(set(oldest_first))
    assert set(oldest_first) == {i for ids in written for i in ids}
    for ids in written:
        positions = [oldest_first.index(i) for i in ids]
        assert positions == sorted(positions)
