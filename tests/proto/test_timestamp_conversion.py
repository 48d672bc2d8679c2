"""Our datetime -> Timestamp shortcut agrees with protobuf's own ``FromDatetime``.

Run in a child process: this test process must not import our generated modules
beside yandexcloud's (see tests/conftest.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHECK = """
from datetime import UTC, datetime, timedelta
from google.protobuf import timestamp_pb2
from hypothesis import given, settings, strategies as st
from adapters.yandex.converters import timestamp

moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)

@settings(max_examples=3000, deadline=None)
@given(moments)
def agrees(moment):
    expected = timestamp_pb2.Timestamp()
    expected.FromDatetime(moment)
    got = timestamp(moment)
    assert (got.seconds, got.nanos) == (expected.seconds, expected.nanos), moment
    assert got.ToDatetime(tzinfo=UTC) == moment

agrees()
for edge in (datetime(1970, 1, 1, tzinfo=UTC), datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)):
    agrees.hypothesis.inner_test(edge)
print("ok")
"""


def test_timestamp_matches_from_datetime() -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
