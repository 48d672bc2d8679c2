"""threadgate's benchmark harness: ``.venv/bin/python -m bench --help`` (or ``make bench``).

It starts ``threadgate serve`` (and bare floor servers) in subprocesses pinned to
one core, drives them over 127.0.0.1 from the other core(s) -- with the C load
generators wrk (REST) and h2load (gRPC) in their own processes, or from this process
through httpx and grpc.aio -- and reports throughput and latency next to the floors.
The default scenario, ``ops``, measures every threadgate operation that way (bench/ops.py).
See docs/performance.md.
"""
