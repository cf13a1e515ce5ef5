"""tests/faketime.py itself: a child started on the faked clock reads it, in the past as in the future."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests import faketime


def _date(env: dict[str, str]) -> int:
    return int(subprocess.run(["date", "+%s"], env=env, capture_output=True, text=True, check=True).stdout)


# Regression (session 29, fixyearend): the offset was written `+{n}s`, so a moment in the past was `+-562508s`,
# which libfaketime ignores without a word: the children ran on the real clock while `Clock.now()` read the
# faked one (from 2026-12-31 15:50 UTC test_new_year's 23:50 was in the past; test_readme's noon on the 15th
# too, from that noon to the month's end).
@pytest.mark.parametrize("days", [-40, -1, 1, 40], ids=["40 days ago", "yesterday", "tomorrow", "in 40 days"])
def test_a_child_reads_the_faked_clock_in_the_past_and_the_future(tmp_path, days):
    moment = datetime.now(UTC) + timedelta(days=days)
    clock = faketime.Clock(tmp_path / "faketime")
    clock.set(moment)
    assert abs(_date(clock.env()) - clock.now()) <= 5
    assert abs(clock.now() - moment.timestamp()) <= 5
    assert abs(_date(faketime.fixed(moment, dict(os.environ))) - moment.timestamp()) <= 5


def test_a_clock_the_child_does_not_read_fails_loudly():
    with pytest.raises(AssertionError, match="not the faked"):
        faketime.check(dict(os.environ), time.time() - 86400)
