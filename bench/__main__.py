"""``python -m bench [scenario] [--quick]``: run a scenario, print a table, save JSON."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench import source

SCENARIO_NAMES = ("ops", "list-scaling", "get-scaling", "durability", "sweep-under-load", "workers")
DEFAULT_SCENARIO = "ops"
# requests in flight when --concurrency is not given
CONCURRENCY = {"ops": (1, 32), "get-scaling": (1, 32)}
DEFAULT_CONCURRENCY = (1, 16)
RESULTS = Path(__file__).resolve().parent / "results"
# quiet: seconds the run may spend waiting out, or repeating runs disturbed by, other processes
FULL = {"rounds": 3, "duration": 3.0, "warmup": 0.5, "quiet": 120.0, "attempts": 3}
QUICK = {"rounds": 1, "duration": 1.0, "warmup": 0.3, "quiet": 3.0, "attempts": 1}


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("expected positive integers separated by commas")
    return values


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark threadgate against bare Hypercorn/Starlette and grpc.aio floors.",
    )
    p.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO, choices=SCENARIO_NAMES)
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"one round of short runs ({QUICK['warmup']:g}s warm-up + {QUICK['duration']:g}s) instead "
        f"of {FULL['rounds']:g} rounds of {FULL['warmup']:g}s + {FULL['duration']:g}s, and no repeats "
        "of disturbed runs",
    )
    p.add_argument("--rounds", type=int, help="times every operation is measured, interleaved")
    p.add_argument("--duration", type=float, help="seconds measured per run")
    p.add_argument("--warmup", type=float, help="seconds of unmeasured load before each run")
    p.add_argument(
        "--concurrency",
        type=_ints,
        help="requests in flight, e.g. 1,32 (default for ops and get-scaling; 1,16 for the others)",
    )
    p.add_argument(
        "--backend",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="ops: the store threadgate serves from; postgresql starts a throw-away server "
        "(testkit/postgres.py, fsync=off) on every CPU",
    )
    p.add_argument(
        "--rest-tool",
        choices=["wrk", "httpx"],
        default="wrk",
        help="REST load generator: wrk in its own process (default), or httpx in this one "
        "(list-scaling then also drives its gRPC floor from this process, through grpc.aio)",
    )
    p.add_argument(
        "--sizes", type=_ints, default=(1_000, 100_000), help="messages per thread (default 1000,100000)"
    )
    p.add_argument(
        "--fill",
        choices=["auto", "api", "sqlite"],
        default="auto",
        help="how threads are filled: the REST API, straight into SQLite with the server stopped, or "
        "auto (the API, unless its measured rate says a thread would take over 3 minutes)",
    )
    p.add_argument(
        "--quiet-budget",
        type=float,
        help="seconds the run may spend waiting for other processes to go idle, or repeating runs "
        f"they disturbed (default {FULL['quiet']:g}, {QUICK['quiet']:g} with --quick)",
    )
    p.add_argument(
        "--source",
        type=Path,
        help="measure the threadgate tree in this directory (e.g. a git worktree of another commit)",
    )
    p.add_argument("--label", default="", help="free text saved with the results (e.g. the commit measured)")
    p.add_argument("--out", type=Path, default=RESULTS, help="directory for the JSON results")
    return p


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # Ctrl-C and SIGTERM both unwind normally, so every server started is stopped and every
    # temporary directory removed (a shell starting us in the background ignores SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    if args.source is not None:
        source.use(args.source)
    # imported only now: they import core and adapters, which --source may redirect
    from bench import machine, report
    from bench.load import Quiet
    from bench.more_scenarios import MORE_SCENARIOS
    from bench.more_scenarios import render as more_render
    from bench.ops import OPS_SCENARIOS
    from bench.ops import render as ops_render
    from bench.scenarios import SCENARIOS, Context, Options, log
    from bench.servers import pin_self, plan_placement
    from bench.store_scenarios import STORE_SCENARIOS
    from bench.store_scenarios import render as store_render
    from bench.tools import H2LOAD, WRK, require

    scenarios = {**SCENARIOS, **MORE_SCENARIOS, **OPS_SCENARIOS, **STORE_SCENARIOS}
    assert set(scenarios) == set(SCENARIO_NAMES), "bench/__main__.py's SCENARIO_NAMES is out of date"
    rest = [WRK] if args.rest_tool == "wrk" else []
    needs = {
        "ops": [*rest, H2LOAD],
        "list-scaling": [*rest, H2LOAD] if rest else [],
        "get-scaling": [*rest, H2LOAD],
        "durability": rest,
    }
    require(*needs.get(args.scenario, []))
    preset = QUICK if args.quick else FULL

    def pick(name: str) -> float:
        value: float | None = getattr(args, name)
        return preset[name] if value is None else value

    options = Options(
        concurrency=args.concurrency or CONCURRENCY.get(args.scenario, DEFAULT_CONCURRENCY),
        duration=pick("duration"),
        warmup=pick("warmup"),
        rounds=max(1, int(pick("rounds"))),
        sizes=args.sizes,
        fill=args.fill,
        quick=args.quick,
        quiet_budget=preset["quiet"] if args.quiet_budget is None else args.quiet_budget,
        attempts=int(preset["attempts"]),
        rest_tool=args.rest_tool,
        backend=args.backend,
    )
    info = {**machine.describe(), "label": args.label}  # before pinning narrows what this process sees
    placement = plan_placement()
    pin_self(placement)
    log(f"measuring {source.tree()}; {placement.describe()}")
    began = time.perf_counter()
    ctx = Context(placement, options, Quiet(options.quiet_budget))
    outcome = asyncio.run(scenarios[args.scenario](ctx))
    seconds = time.perf_counter() - began
    renders = {
        **dict.fromkeys(MORE_SCENARIOS, more_render),
        **dict.fromkeys(OPS_SCENARIOS, ops_render),
        **dict.fromkeys(STORE_SCENARIOS, store_render),
    }
    text = renders.get(args.scenario, report.render)(args.scenario, outcome, placement.describe(), options)
    path = report.save(args.scenario, outcome, options, info, placement.describe(), seconds, args.out)
    print()
    print(text)
    print(f"\n{seconds:.0f}s; results saved to {path}")
    failed = outcome.notes.get("failed")
    if failed:
        print(f"\nFAILED: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
