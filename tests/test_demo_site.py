"""The demo site's dates follow the calendar: every date is relative to the day it is served."""

from __future__ import annotations

import email.utils
import re
from datetime import UTC, date, datetime, timedelta

import feedparser
import httpx
import pytest

from flows.demo import SITE
from flows.demo.server import SiteServer, render_dates

pytestmark = pytest.mark.clock  # also run with the clock a year ahead

STYLES = {
    "iso": "2027-03-01T07:05:00Z",
    "rfc822": "Mon, 01 Mar 2027 07:05:00 GMT",
    "dotted": "01.03.2027 07:05 UTC",
    "long": "Monday 1 March 2027, 07:05 GMT",
    "ap": "March 1, 2027",
}


@pytest.mark.parametrize(("style", "written"), STYLES.items())
def test_each_style_writes_the_day_relative_to_today(style: str, written: str) -> None:
    # 2028 is a leap year: 366 days before 2028-03-01 is 2027-03-01, a Monday
    got = render_dates(f"<p>{{{{DATE -366 07:05 {style}}}}}</p>".encode(), date(2028, 3, 1))
    assert got == f"<p>{written}</p>".encode()


def test_ap_months_and_days_ahead() -> None:
    assert render_dates(b"{{DATE +3 ap}}", date(2026, 9, 6)) == b"Sept. 9, 2026"
    assert render_dates(b"{{DATE -1 ap}}", date(2027, 1, 1)) == b"Dec. 31, 2026"
    assert render_dates(b"{{DATE 0 iso}}", date(2027, 1, 1)) == b"2027-01-01T00:00:00Z"
    assert render_dates(b"no dates here {{DATE}}", date(2027, 1, 1)) == b"no dates here {{DATE}}"


def _site_dates(today: date) -> list[datetime]:
    """Every date the site states, as the server writes it on ``today``."""
    out = []
    for file in SITE.rglob("*"):
        if file.suffix in (".html", ".xml", ".atom"):
            body = render_dates(file.read_bytes(), today).decode("utf-8")
            assert "{{DATE" not in body, file
            out += [
                datetime.fromisoformat(d.replace("Z", "+00:00"))
                for d in re.findall(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body)
            ]
    return out


@pytest.mark.parametrize("today", [date(2026, 11, 19), date(2031, 2, 28), date(2024, 2, 29)])
def test_the_site_is_dated_around_the_day_it_is_served(today: date) -> None:
    dates = _site_dates(today)
    midnight = datetime(today.year, today.month, today.day, tzinfo=UTC)
    assert len(dates) > 70
    # nothing in the future, the newest a day old, the oldest about ten weeks
    assert max(dates) < midnight and midnight - max(dates) < timedelta(days=1)
    assert timedelta(days=70) < midnight - min(dates) < timedelta(days=80)
    # a Musk story inside the last 14 days, whatever the year
    assert sum(midnight - d < timedelta(days=14) for d in dates) >= 5


def test_the_server_serves_todays_dates_and_keeps_them_for_its_life(tmp_path) -> None:
    import shutil

    root = tmp_path / "site"
    shutil.copytree(SITE, root)
    today = datetime.now(UTC).date()
    with SiteServer(root) as site:
        assert site.today == today or site.today == today + timedelta(days=1)  # (midnight)
        first = httpx.get(site.url("/feeds/baltic.xml"))
        again = httpx.get(site.url("/feeds/baltic.xml"))
        assert first.content == again.content and first.headers["etag"] == again.headers["etag"]
        parsed = feedparser.parse(first.content)
        newest = max(email.utils.parsedate_to_datetime(e.published) for e in parsed.entries).date()
        assert newest == site.today - timedelta(days=1)
    # a server told another day states the same stories at that day's dates
    with SiteServer(root, today=date(2030, 6, 15)) as site:
        body = httpx.get(site.url("/articles/prisoner-exchange-russia-ukraine.html")).text
        assert 'content="2030-06-14T16:20:00Z"' in body and "14.06.2030 16:20 UTC" in body
