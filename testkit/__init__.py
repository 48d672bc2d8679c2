"""Support shared by ``tests/`` and ``bench/``: ``threadgate serve`` and its keys in a
subprocess (``testkit.server``), a throw-away PostgreSQL (``testkit.postgres``), free
ports (``testkit.ports``).  It imports neither ``tests`` nor ``bench``, and never our
generated gRPC modules nor ``yandexcloud``: a test process may import one of those, not
both (tests/conftest.py).  Not shipped in the wheel.
"""
