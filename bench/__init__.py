"""threadgate's benchmark harness (``python -m bench --help``, ``make bench``): threadgate
and bare floors on one core, wrk/h2load from the others; see docs/performance.md."""
