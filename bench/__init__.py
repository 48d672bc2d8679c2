"""threadgate's benchmark harness: ``.venv/bin/python -m bench --help`` (or ``make bench``).

It starts ``threadgate serve`` and bare floor servers in subprocesses pinned to one core,
drives them over 127.0.0.1 from the other core(s) with the load generators wrk (REST) and
h2load (gRPC), and reports throughput and latency next to the floors' (docs/performance.md).
"""
