"""Which CPUs the servers and the load generator get, and the CPU time they use, from
``/proc``: a server's summed over its process tree (the workers of ``--workers N``), the
machine's over every core.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator

from attrs import evolve, frozen

from bench.stats import Sample

# every CPU this process may use, read at import, before ``pin_self`` narrows it
ALL_CPUS = tuple(sorted(os.sched_getaffinity(0)))
TICK = os.sysconf("SC_CLK_TCK")


@frozen
class Placement:
    server_cpu: int | None  # None: only one CPU, shared by servers and load generator
    client_cpus: tuple[int, ...]

    def describe(self) -> str:
        if self.server_cpu is None:
            return "not pinned (only one CPU available): server and load generator share it"
        return f"server pinned to CPU {self.server_cpu}; load generator on CPU(s) {list(self.client_cpus)}"


def pin_self() -> Placement:
    """The servers get the first CPU; this process (and every tool it starts) moves to the others."""
    if len(ALL_CPUS) < 2:
        return Placement(None, ALL_CPUS)
    os.sched_setaffinity(0, ALL_CPUS[1:])
    return Placement(ALL_CPUS[0], ALL_CPUS[1:])


@contextlib.contextmanager
def on_all_cpus() -> Iterator[None]:
    """Processes started inside may run on every CPU, not just the load generator's."""
    mine = os.sched_getaffinity(0)
    os.sched_setaffinity(0, ALL_CPUS)
    try:
        yield
    finally:
        os.sched_setaffinity(0, mine)


def system_cpu_seconds() -> tuple[float, float]:
    """Seconds every core has spent busy, and seconds stolen by the hypervisor, since boot."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is inside user)
    busy = sum(fields[:8]) - fields[3] - fields[4] - fields[7]
    return busy / TICK, fields[7] / TICK


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    found = [pid]
    for p in found:
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    found += [int(c) for c in f.read().split()]
    return found


def tree_cpu_seconds(pid: int) -> float:
    """User + system seconds used by ``pid`` and its descendants (all their threads)."""
    total = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError):  # a process may end meanwhile
            with open(f"/proc/{p}/stat") as f:
                text = f.read()
            fields = text[text.rindex(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


@frozen
class Window:
    """CPU counters at one moment: the server's, this process's, the machine's, steal."""

    server: float
    own: float
    system: float
    steal: float

    @classmethod
    def now(cls, server_pid: int) -> Window:
        system, steal = system_cpu_seconds()
        return cls(tree_cpu_seconds(server_pid), time.process_time(), system, steal)

    def sample(self, end: Window, run: Sample, tool_cpu: float = 0.0) -> Sample:
        """``run`` (its requests) with the CPU seconds used from this moment to ``end``; the load
        generator's are this process's plus ``tool_cpu``, an external tool's."""
        server, client, system = (
            end.server - self.server,
            tool_cpu + end.own - self.own,
            end.system - self.system,
        )
        return evolve(
            run, server_cpu=server, client_cpu=client, system_cpu=system, steal=end.steal - self.steal
        )


class Quiet:
    """Keep other processes' work out of the measurements, within a time budget: before
    each run, wait for the machine to go idle; a run during which others used more than
    ``threshold`` of a core may be repeated.  Waiting and repeating draw on ``budget``."""

    def __init__(self, budget: float, threshold: float = 0.15, window: float = 0.25) -> None:
        self.budget, self.threshold, self.window = budget, threshold, window
        self.spent = 0.0

    async def wait(self) -> None:
        while self.spent < self.budget:
            before = Window.now(os.getpid())
            await asyncio.sleep(self.window)
            after = Window.now(os.getpid())
            if (after.system - before.system) - (after.own - before.own) < self.threshold * self.window:
                return
            self.spent += self.window

    def repeat(self, sample: Sample, seconds: float) -> bool:
        """Whether the run of ``sample`` was disturbed and may be repeated, in ``seconds`` more of
        the budget (then charged)."""
        if sample.other_cpu < self.threshold or self.spent + seconds > self.budget:
            return False
        self.spent += seconds
        return True
