"""Hostile input through the console's newest pages and forms (s27-sec6): each test names what a client met.

In-process on the real app (`http`) over a real SQLite file, signed in through the console's own form.
"""

from __future__ import annotations

from tests.conftest import SITE
from tests.server.test_console_desk import console


def test_a_year_written_in_other_digits_is_a_400_not_a_500(http, site):
    # Regression (s27-sec6): the site page's ?year= took any Unicode digits (str.isdigit), so ²²²² passed
    # the check and int() raised: a 500 with a traceback in the log; ２０２６ (full width) listed nothing.
    console(http, "lin")
    for year in ("²²²²", "２０２６", "٢٠٢٦"):
        r = http.get(f"/console/sites/{SITE}", params={"year": year})
        assert r.status_code == 400, year
        assert r.headers["content-type"].startswith("text/html") and "invalid_filter" in r.text
