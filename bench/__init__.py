"""threadgate's benchmark harness: ``.venv/bin/python -m bench --help``.

It starts ``threadgate serve`` (and bare floor servers) in subprocesses pinned to
one core, drives them from this process over 127.0.0.1, and reports throughput
and latency next to the floors.  See docs/performance.md.
"""
