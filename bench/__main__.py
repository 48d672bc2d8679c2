"""``python -m bench [scenario] [--quick]``: run a benchmark scenario against threadgate and
bare Hypercorn/grpc.aio floors, print its tables, save JSON (docs/performance.md)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

# the harness's own testkit, imported before --source may put another tree first on sys.path
import testkit.postgres
import testkit.server  # noqa: F401
from bench import source

# scenario: (its module, the load generators it needs); each module's ``run`` measures it
SCENARIOS = {
    "ops": ("bench.ops", ("wrk", "h2load")),
    "list-scaling": ("bench.list_scaling", ("wrk",)),
    "get-scaling": ("bench.get_scaling", ("wrk", "h2load")),
    "durability": ("bench.durability", ("wrk",)),
    "sweep-under-load": ("bench.sweep_under_load", ()),
    "workers": ("bench.workers", ("wrk",)),
}
# requests in flight when --concurrency is not given
CONCURRENCY = {"ops": (1, 32), "get-scaling": (1, 32), "workers": (32,), "others": (1, 16)}
RESULTS = Path(__file__).resolve().parent / "results"
# quiet_budget: seconds to spend waiting out, or repeating runs disturbed by, other processes;
# attempts: runs at most per measurement when they disturb it
FULL: dict[str, Any] = {"rounds": 3, "duration": 3.0, "warmup": 0.5, "quiet_budget": 120.0, "attempts": 3}
QUICK: dict[str, Any] = {"rounds": 1, "duration": 1.0, "warmup": 0.3, "quiet_budget": 3.0, "attempts": 1}


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("expected positive integers separated by commas")
    return values


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("scenario", nargs="?", default="ops", choices=SCENARIOS)
    p.add_argument("--quick", action="store_true", help=f"presets {QUICK} instead of {FULL}")
    p.add_argument("--rounds", type=int, help="times every operation is measured, interleaved")
    p.add_argument("--duration", type=float, help="seconds measured per run")
    p.add_argument("--warmup", type=float, help="seconds of unmeasured load before each run")
    p.add_argument("--concurrency", type=_ints, help=f"requests in flight, e.g. 1,32 (default {CONCURRENCY})")
    p.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite", help="ops: the store")
    p.add_argument("--sizes", type=_ints, default=(1_000, 100_000), help="list-scaling: messages per thread")
    p.add_argument("--quiet-budget", type=float, help="seconds to spend waiting out other processes' load")
    p.add_argument("--source", type=Path, help="measure the threadgate tree in this directory")
    p.add_argument("--label", default="", help="free text saved with the results (e.g. the commit measured)")
    p.add_argument("--out", type=Path, default=RESULTS, help="directory for the JSON results")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # Ctrl-C and SIGTERM both unwind normally, so every server started is stopped and every
    # temporary directory removed (a shell starting us in the background ignores SIGINT)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.default_int_handler)
    if args.source is not None:
        source.use(args.source)
    # imported only now: they import core and adapters, which --source may redirect
    from bench import report
    from bench.cpus import Quiet, pin_self
    from bench.load_tools import require
    from bench.rounds import Context, Options, log

    module, tools = SCENARIOS[args.scenario]
    require(*tools)
    preset = QUICK if args.quick else FULL
    given = {k: getattr(args, k, None) for k in preset}
    pick = {k: preset[k] if v is None else v for k, v in given.items()}
    pick["rounds"] = max(1, int(pick["rounds"]))
    concurrency = args.concurrency or CONCURRENCY.get(args.scenario, CONCURRENCY["others"])
    options = Options(concurrency, sizes=args.sizes, quick=args.quick, backend=args.backend, **pick)
    info = {**source.provenance(), "label": args.label}  # before pinning narrows what this process sees
    placement = pin_self()
    log(f"measuring {source.tree()}; {placement.describe()}")
    began = time.perf_counter()
    ctx = Context(placement, options, Quiet(options.quiet_budget))
    outcome = asyncio.run(importlib.import_module(module).run(ctx))
    seconds = time.perf_counter() - began
    outcome.notes["quiet_seconds_spent"] = round(ctx.quiet.spent, 1)
    where = placement.describe()
    about = {"wall_seconds": round(seconds, 1), "machine": info, "placement": where}
    path = report.save(args.out, args.scenario, outcome, options=attrs.asdict(options), **about)
    print(f"\n{report.render(args.scenario, outcome, where)}\n\n{seconds:.0f}s; results saved to {path}")
    if failed := outcome.notes.get("failed"):
        print(f"\nFAILED: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
