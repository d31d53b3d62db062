"""Hostile input: a loopback server that misbehaves on purpose (tests/hostile.py), met first by the
Fetcher alone, then by a whole flow run. Every case ends with a documented reason, no refused
address is ever connected to, and memory stays bounded."""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb
import pytest
from conftest import REPO, write_config
from hostile import ENCODED_PAGES, HostileServer, double_gzip_bomb, gzip_bomb, rss

from flows.config import NetworkSettings
from flows.errors import REASONS, FetchError
from flows.extraction.extract import Page, extract_page
from flows.sources.feeds import FeedCursor, FeedItem, poll_feed
from flows.sources.fetch import Fetcher, Response, is_public
from flows.sources.urls import canonical_url

CONTACT = "ops@corpus-monitor.example"
EXTRA_HOSTS = (
    "busy.test",
    "down.test",
    "crawl.test",
    "r404.test",
    "r5xx.test",
    "cache.test",
    "slowrobots.test",
)
Outcome = Response | FetchError


@pytest.fixture(scope="module")
def canary() -> Iterator[HostileServer]:
    """A second loopback server that no test may reach: it records every connection."""
    with HostileServer() as server:
        yield server
    assert server.connections == [] and server.hits == [], "a refused address was contacted"


@pytest.fixture(scope="module")
def hostile(canary: HostileServer) -> Iterator[HostileServer]:
    gzip_bomb(), double_gzip_bomb()  # made once, before several requests want them at once
    with HostileServer(canary=canary.base_url) as server:
        server.robots["down.test"] = (503, "")
        server.robots["r5xx.test"] = (500, "")
        server.robots["r404.test"] = (404, "")
        server.robots["crawl.test"] = (200, "User-agent: *\nCrawl-delay: 1\n")
        yield server


def settings(server: HostileServer, **overrides: Any) -> NetworkSettings:
    """The test site's host:port (and a few names pointed at it) allowed; evil.test points at
    the same server and is not."""
    names = {"evil.test": "127.0.0.1"} | {h: "127.0.0.1" for h in EXTRA_HOSTS}
    base: dict[str, Any] = {
        "allowed_hosts": [server.netloc, *(f"{h}:{server.port}" for h in EXTRA_HOSTS)],
        "resolve": names,
        "per_host_delay_seconds": 0,
        "timeout_seconds": 5,
        "contact": CONTACT,
    }
    return NetworkSettings(**(base | overrides))


async def _fetch_all(
    net: NetworkSettings, urls: list[str], concurrent: bool, **kw: Any
) -> tuple[list[tuple[Outcome, float]], Fetcher]:
    async with Fetcher(net) as f:

        async def one(url: str) -> tuple[Outcome, float]:
            started = time.monotonic()
            try:
                out: Outcome = await f.get(url, **kw)
            except FetchError as e:
                out = e
            return out, time.monotonic() - started

        if concurrent:
            results = list(await asyncio.gather(*(one(u) for u in urls)))
        else:
            results = [await one(u) for u in urls]
    return results, f


def fetch(
    net: NetworkSettings, *urls: str, concurrent: bool = False, **kw: Any
) -> tuple[list[tuple[Outcome, float]], Fetcher]:
    """GET each URL with one Fetcher: ([(Response or FetchError, seconds)], the fetcher)."""
    return asyncio.run(_fetch_all(net, list(urls), concurrent, **kw))


def reason(outcome: Outcome) -> str:
    return outcome.reason if isinstance(outcome, FetchError) else f"ok {outcome.status}"


def only_the_site(f: Fetcher, server: HostileServer) -> None:
    """Every connection the fetcher opened went to the test site, nowhere else."""
    assert {addr for addr, port in f.connected if port != server.port} == set()
    assert {addr for addr, _ in f.connected} <= {"127.0.0.1"}


# --- the Fetcher alone -----------------------------------------------------------------------

HOSTILE_PAGES = {
    "/reset": ("refused", "connection broken"),
    "/reset-mid": ("refused", "connection broken"),
    "/truncated": ("refused", "connection broken"),
    "/bomb.html": ("too_large", "after decompression"),
    "/bomb2.html": ("too_large", "after decompression"),
    "/bomb-deflate.html": ("too_large", "after decompression"),
    "/corrupt-gzip.html": ("bad_encoding", "corrupt"),
    "/br.html": ("bad_encoding", "'br' was not asked for"),
    "/big/length": ("too_large", "50000000 bytes declared"),
    "/big/chunked": ("too_large", "cut off"),
    "/big/close": ("too_large", "cut off"),
    "/loop": ("too_many_redirects", "more than 5 redirects"),
    "/loop-a": ("too_many_redirects", "more than 5 redirects"),
    "/to-canary": ("blocked_address", "a non-public address"),
    "/to-metadata": ("blocked_address", "169.254.169.254"),
    "/to-evil": ("blocked_address", "evil.test resolves to 127.0.0.1"),
    "/to-file": ("bad_url", "only http(s)"),
    "/to-ftp": ("bad_url", "only http(s)"),
    "/to-creds": ("bad_url", "credentials"),
    "/to-bad-location": ("bad_url", "redirect"),
    "/no-location": ("http_302", ""),
    "/nowhere": ("http_404", ""),
    "/bin/png-as-html": ("not_html", "the body is binary"),
    "/bin/png": ("not_html", "image/png"),
    "/bin/pdf": ("not_html", "application/pdf"),
    "/bin/octet": ("not_html", "application/octet-stream"),
}


def test_every_hostile_page_ends_with_a_documented_reason(
    hostile: HostileServer, canary: HostileServer
) -> None:
    paths = list(HOSTILE_PAGES)
    seen_before = len(hostile.requests())
    results, f = fetch(
        settings(hostile, per_host_concurrency=8),
        *(hostile.url(p) for p in paths),
        concurrent=True,
        expect="html",
    )
    got = {p: (reason(o), str(o)) for p, (o, _) in zip(paths, results, strict=True)}
    for path, (want, words) in HOSTILE_PAGES.items():
        assert got[path][0] == want, (path, got[path])
        assert words in got[path][1], (path, got[path])
        assert want in REASONS or want.startswith("http_")
    for (_, seconds), path in zip(results, paths, strict=True):
        assert seconds < 3, (path, seconds)  # caps, not time limits, stopped them
    # the refused addresses were never connected to; the site was
    assert ("169.254.169.254:80", "169.254.169.254") in f.refused
    assert (f"127.0.0.1:{canary.port}", "127.0.0.1") in f.refused
    assert (f"evil.test:{hostile.port}", "127.0.0.1") in f.refused
    only_the_site(f, hostile)
    assert canary.connections == []
    assert not [h for h in hostile.requests()[seen_before:] if h.host.startswith("evil.test")]


@pytest.mark.skipif(
    "faketime" in os.environ.get("LD_PRELOAD", ""),
    reason="under libfaketime the event loop's read timeouts trip early (seen with a +0 offset)",
)
def test_slow_servers_are_cut_off_by_the_time_limits(hostile: HostileServer) -> None:
    net = settings(hostile, timeout_seconds=2, read_timeout_seconds=1.5, per_host_concurrency=4)
    paths = ["/drip", "/drip-headers", "/hang"]
    results, _ = fetch(net, *(hostile.url(p) for p in paths), concurrent=True)
    drip, drip_headers, hang = results
    # a byte a second never trips the read timeout: the total limit cuts the drip off
    for outcome, seconds in (drip, drip_headers):
        assert reason(outcome) == "timeout" and "no complete answer in 2s" in str(outcome)
        assert 1.9 <= seconds < 3.0
    # a server that says nothing trips the read timeout first
    assert reason(hang[0]) == "timeout" and "read timeout" in str(hang[0])
    assert 1.4 <= hang[1] < 2.0


def test_names_and_numbers_that_lead_to_loopback_are_refused(hostile: HostileServer) -> None:
    port = hostile.port
    before = len(hostile.connections)
    urls = [
        f"http://evil.test:{port}/page/direct.html",  # network.resolve -> 127.0.0.1
        f"http://localhost:{port}/page/a.html",
        f"http://2130706433:{port}/page/a.html",  # 127.0.0.1 as one number
        f"http://0x7f.1:{port}/page/a.html",
        f"http://127.1:{port}/page/a.html",
        f"http://[::ffff:127.0.0.1]:{port}/page/a.html",
        f"http://0:{port}/page/a.html",
        f"http://[::1]:{port}/page/a.html",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
    ]
    results, f = fetch(settings(hostile), *urls)
    assert [reason(o) for o, _ in results] == ["blocked_address"] * len(urls)
    assert f.connected == [] and len(hostile.connections) == before
    # the test site's own host:port is allowed, on the same address
    ((ok, _),) = fetch(settings(hostile), hostile.url("/page/allowed.html"))[0]
    assert reason(ok) == "ok 200"


def test_allowing_private_addresses_lets_a_name_reach_loopback(hostile: HostileServer) -> None:
    url = hostile.url("/page/evil-allowed.html", host="evil.test")
    ((out, _),) = fetch(settings(hostile, allow_private_addresses=True), url)[0]
    assert reason(out) == "ok 200"
    ((out, _),) = fetch(settings(hostile, allowed_hosts=[f"evil.test:{hostile.port}"]), url)[0]
    assert reason(out) == "ok 200"
    assert [h.host for h in hostile.requests("/page/evil-allowed")] == [
        f"evil.test:{hostile.port}"
    ] * 2
    # without either, nothing: not even the test site's own address
    ((out, _),) = fetch(settings(hostile, allowed_hosts=[]), hostile.url("/page/x.html"))[0]
    assert reason(out) == "blocked_address"


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1/x",
        "gopher://127.0.0.1:70/",
        "javascript:alert(1)",
        "data:text/html,<h1>x</h1>",
        "http://user:secret@example.com/",
        "http://user@example.com/",
        "http://:secret@example.com/",
        "http://@example.com/",
        "http:///no-host",
        "http://[::1/unclosed",
        "http://example.com:99999/",
        "http://xn--a.com/",  # not valid punycode
        "http://a\x00b.example/",
        "http://" + "a" * 300 + ".example/",  # a DNS label longer than 63
    ],
)
def test_urls_that_are_never_fetched(hostile: HostileServer, url: str) -> None:
    results, f = fetch(settings(hostile), url)
    out = results[0][0]
    assert reason(out) == "bad_url", str(out)
    assert f.connected == [] and f.requests == 0


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("::ffff:169.254.169.254", False),
        ("2002:7f00:1::", False),  # 6to4 around 127.0.0.1
        ("2002:a9fe:a9fe::", False),  # 6to4 around 169.254.169.254
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 around 169.254.169.254
        ("64:ff9b:1::7f00:1", False),  # local-use NAT64
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
        ("::127.0.0.1", False),  # IPv4-compatible (deprecated)
        ("::ffff:0:7f00:1", False),  # IPv4-translated
        ("fe80::1", False),
        ("fec0::1", False),  # site-local (deprecated)
        ("fd00:ec2::254", False),  # the metadata service over IPv6 (unique local)
        ("::1", False),
        ("::", False),
        ("ff02::1", False),
        ("ff0e::1", False),  # global-scope multicast
        ("2001:db8::1", False),
        ("0.0.0.0", False),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("192.0.0.1", False),
        ("198.18.0.1", False),
        ("224.0.0.1", False),
        ("239.255.255.250", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("8.8.8.8", True),
        ("93.184.216.34", True),
        ("::ffff:8.8.8.8", True),
        ("2002:808:808::", True),  # 6to4 around 8.8.8.8
        ("64:ff9b::808:808", True),
        ("2606:4700:4700::1111", True),
    ],
)
def test_is_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


def test_user_agent_names_the_contact(hostile: HostileServer) -> None:
    net = settings(hostile)
    ((out, _),) = fetch(net, hostile.url("/page/ua.html"))[0]
    assert reason(out) == "ok 200"
    (hit,) = hostile.requests("/page/ua.html")
    assert hit.headers["user-agent"] == net.agent
    assert CONTACT in hit.headers["user-agent"] and "corpus-monitor/" in net.agent


def test_flaky_500s_are_recorded_one_by_one(hostile: HostileServer) -> None:
    paths = [f"/flaky/{i}" for i in range(12)]
    results, _ = fetch(settings(hostile), *(hostile.url(p) for p in paths))
    got = [reason(o) for o, _ in results]
    want = ["http_500" if hostile.status_of(p) == [500] else "ok 200" for p in paths]
    assert got == want
    assert {"http_500", "ok 200"} <= set(got)  # the seed gives both


# --- politeness ------------------------------------------------------------------------------


def test_retry_after_in_seconds_is_waited_out(hostile: HostileServer) -> None:
    ((out, _),) = fetch(settings(hostile), hostile.url("/retry/429/1/seconds"))[0]
    assert reason(out) == "ok 200"
    first, second = hostile.requests("/retry/429/1/seconds")
    assert first.status == 429 and second.status == 200
    assert second.started - first.started >= 1.0


def test_retry_after_as_an_http_date_is_waited_out(hostile: HostileServer) -> None:
    ((out, _),) = fetch(settings(hostile), hostile.url("/retry/503-date/2/date"))[0]
    assert reason(out) == "ok 200"
    first, second = hostile.requests("/retry/503-date/2/date")
    assert first.status == 503 and second.status == 200
    # the date the server named (whole seconds, as HTTP dates are) had passed
    asked = email.utils.parsedate_to_datetime(
        email.utils.formatdate(first.wall + 2, usegmt=True)
    ).timestamp()
    assert second.wall >= asked - 0.01


def test_a_short_retry_after_holds_every_request_to_the_host(hostile: HostileServer) -> None:
    urls = [hostile.url("/retry/429-always/1/short"), hostile.url("/page/after-short.html")]
    results, _ = fetch(settings(hostile), *urls)
    assert [reason(o) for o, _ in results] == ["http_429", "ok 200"]
    tries = hostile.requests("/retry/429-always/1/short")
    assert len(tries) == 3  # the first answer and two retries
    starts = [h.started for h in tries] + [hostile.requests("/page/after-short")[0].started]
    assert all(b - a >= 1.0 for a, b in pairwise(starts))


def test_a_long_retry_after_stops_the_host_for_the_run(hostile: HostileServer) -> None:
    net = settings(hostile, max_retry_after_seconds=5)
    urls = [
        hostile.url(p, host="busy.test") for p in ("/retry/429-always/3600/long", "/page/b.html")
    ]
    results, _ = fetch(net, *urls)
    (first, _), (second, _) = results
    assert reason(first) == "http_429" and isinstance(first, FetchError)
    assert first.retry_after == 3600
    assert reason(second) == "rate_limited"
    assert hostile.paths("/retry/429-always/3600/long") == ["/retry/429-always/3600/long"]
    assert hostile.requests("/page/b.html") == []  # not asked


def test_per_host_delay_spaces_request_starts(hostile: HostileServer) -> None:
    net = settings(hostile, per_host_delay_seconds=0.4, per_host_concurrency=4)
    urls = [hostile.url(f"/page/spaced-{i}.html") for i in range(4)]
    results, f = fetch(net, *urls, concurrent=True)
    assert [reason(o) for o, _ in results] == ["ok 200"] * 4
    starts = sorted(h.started for h in hostile.requests("/page/spaced-"))
    assert len(starts) == 4
    assert all(b - a >= 0.39 for a, b in pairwise(starts)), starts
    assert f.waited >= 1.1


def test_per_host_concurrency_is_a_ceiling(hostile: HostileServer) -> None:
    net = settings(hostile, per_host_concurrency=2, concurrency=16)
    urls = [hostile.url(f"/slow/c-{i}.html", host="cache.test") for i in range(6)]
    results, _ = fetch(net, *urls, concurrent=True)
    assert [reason(o) for o, _ in results] == ["ok 200"] * 6
    assert hostile.peak_in_flight(f"cache.test:{hostile.port}") == 2


# --- robots.txt ------------------------------------------------------------------------------


def test_robots_disallowed_page_is_never_requested(hostile: HostileServer) -> None:
    ((out, _),) = fetch(settings(hostile), hostile.url("/private/secret.html"), robots=True)[0]
    assert reason(out) == "robots_disallowed" and isinstance(out, FetchError)
    assert out.stage == "robots"
    assert hostile.requests("/private/secret.html") == []
    # robots_txt = false: the same page is fetched
    ((out, _),) = fetch(
        settings(hostile, robots_txt=False), hostile.url("/private/secret.html"), robots=True
    )[0]
    assert reason(out) == "ok 200"


def test_robots_txt_is_fetched_once_per_host(hostile: HostileServer) -> None:
    host = f"r404.test:{hostile.port}"
    urls = [hostile.url(f"/page/r-{i}.html", host="r404.test") for i in range(4)]
    results, _ = fetch(
        settings(hostile, per_host_concurrency=4), *urls, concurrent=True, robots=True
    )
    # robots.txt answers 404: everything is allowed
    assert [reason(o) for o, _ in results] == ["ok 200"] * 4
    # a second fetcher (the next batch of the run) uses the cached answer
    ((out, _),) = fetch(settings(hostile), urls[0], robots=True)[0]
    assert reason(out) == "ok 200"
    assert [h.path for h in hostile.requests("/robots.txt") if h.host == host] == ["/robots.txt"]


def test_robots_txt_is_fetched_once_by_fetchers_in_several_threads(
    hostile: HostileServer,
) -> None:
    """A run fetches several batches at once, each in its own thread with its own Fetcher: the
    first asks for robots.txt (slowly answered here), the others wait for its answer."""
    host = f"slowrobots.test:{hostile.port}"
    with ThreadPoolExecutor(3) as pool:
        outcomes = list(
            pool.map(
                lambda i: fetch(
                    settings(hostile),
                    hostile.url(f"/page/t-{i}.html", host="slowrobots.test"),
                    robots=True,
                )[0],
                range(3),
            )
        )
    assert [reason(o) for ((o, _),) in outcomes] == ["ok 200"] * 3
    assert [h.path for h in hostile.requests("/robots.txt") if h.host == host] == ["/robots.txt"]


def test_robots_txt_5xx_means_nothing_is_fetched(hostile: HostileServer) -> None:
    urls = [hostile.url(f"/page/u-{i}.html", host="r5xx.test") for i in range(2)]
    results, _ = fetch(settings(hostile), *urls, robots=True)
    for out, _ in results:
        assert reason(out) == "robots_unavailable" and isinstance(out, FetchError)
        assert out.stage == "robots"
    assert hostile.requests("/page/u-") == []
    hits = [h for h in hostile.requests("/robots.txt") if h.host.startswith("r5xx.test")]
    assert len(hits) == 1  # cached, like a good answer (retried after a minute)


def test_crawl_delay_spaces_requests(hostile: HostileServer) -> None:
    urls = [hostile.url(f"/page/crawl-{i}.html", host="crawl.test") for i in range(2)]
    results, _ = fetch(settings(hostile), *urls, robots=True)
    assert [reason(o) for o, _ in results] == ["ok 200"] * 2
    a, b = (h.started for h in hostile.requests("/page/crawl-"))
    assert b - a >= 1.0


# --- feeds and encodings ---------------------------------------------------------------------


def _poll(net: NetworkSettings, url: str) -> Any:
    async def go() -> Any:
        async with Fetcher(net) as f:
            return await poll_feed(f, url, "hostile", FeedCursor(), net.max_feed_bytes)

    return asyncio.run(go())


def test_hostile_feeds(hostile: HostileServer) -> None:
    net = settings(hostile)
    started = time.monotonic()
    laughs = _poll(net, hostile.url("/feeds/laughs.xml"))
    assert time.monotonic() - started < 2  # the entities are not expanded
    assert laughs.status == "ok" and len(laughs.items) == 1
    assert "lollollol" not in (laughs.items[0].title or "")
    cyrillic = _poll(net, hostile.url("/feeds/cp1251.xml"))
    assert cyrillic.status == "ok" and [i.title for i in cyrillic.items] == ["Новости: кафе"] * 4
    for path, want in [
        ("/feeds/octet.xml", "not_a_feed"),
        ("/feeds/png.xml", "not_a_feed"),
        ("/feeds/bomb.xml", "too_large"),
        ("/to-canary", "blocked_address"),
    ]:
        poll = _poll(net, hostile.url(path))
        assert (poll.status, poll.error) == ("error", want), path


def _extract(hostile: HostileServer, name: str) -> str:
    ((resp, _),) = fetch(settings(hostile), hostile.url(f"/enc/{name}"), expect="html")[0]
    assert isinstance(resp, Response)
    item = FeedItem(resp.url, resp.url, resp.url, None, None, None, None)
    return extract_page(Page(resp.url, resp.body, resp.charset, item), 200).text


def test_a_declared_legacy_charset_is_read(hostile: HostileServer) -> None:
    text = _extract(hostile, "cp1251.html")
    assert "Жители Москвы обсуждают" in text


@pytest.mark.parametrize("name", [n for n in ENCODED_PAGES if n != "cp1251.html"])
def test_a_wrong_or_missing_charset_is_survived(hostile: HostileServer, name: str) -> None:
    text = _extract(hostile, name)
    assert "Café owners in Zürich" in text and "€5" in text


# --- memory ----------------------------------------------------------------------------------

MEMORY_SCRIPT = """
import asyncio, json, sys
from flows.config import NetworkSettings
from flows.errors import FetchError
from flows.sources.fetch import Fetcher

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024

base, netloc, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3])
paths = ["/bomb.html", "/bomb2.html", "/bomb-deflate.html", "/big/length", "/big/chunked",
         "/big/close"] * concurrency
net = NetworkSettings(allowed_hosts=[netloc], per_host_delay_seconds=0, concurrency=concurrency,
                      per_host_concurrency=concurrency, timeout_seconds=60)

async def main():
    async with Fetcher(net) as f:
        async def one(p):
            try:
                await f.get(base + p, expect="html")
                return "ok"
            except FetchError as e:
                return e.reason
        return await asyncio.gather(*(one(p) for p in paths))

start = status("VmRSS")
reasons = asyncio.run(main())
print(json.dumps({"start": start, "peak": status("VmHWM"), "reasons": sorted(set(reasons)),
                  "requests": len(reasons), "cap": net.max_page_bytes}))
"""


def test_memory_stays_bounded_under_hostile_bodies(hostile: HostileServer) -> None:
    concurrency = 8
    proc = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, hostile.base_url, hostile.netloc, str(concurrency)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = json.loads(proc.stdout.strip().splitlines()[-1])
    mb = 1 << 20
    budget = concurrency * m["cap"] + 200 * mb
    print(
        f"\nmemory: start {m['start'] / mb:.0f} MB, peak {m['peak'] / mb:.0f} MB, "
        f"growth {(m['peak'] - m['start']) / mb:.0f} MB for {m['requests']} hostile bodies "
        f"({concurrency} at a time, cap {m['cap'] / 1e6:.0f} MB); budget {budget / mb:.0f} MB"
    )
    assert m["reasons"] == ["too_large"]
    assert m["peak"] - m["start"] < budget


# --- the whole flow --------------------------------------------------------------------------


def _rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.mark.e2e
def test_a_run_over_a_hostile_site(
    prefect: None,
    tmp_path: Path,
    seeds_dir: Path,
    hostile: HostileServer,
    canary: HostileServer,
) -> None:
    from flows.orchestration.monitor import monitor

    s = hostile
    url = s.url
    pages: dict[str, str | None] = {  # link in the feed -> reason (None: an article)
        url("/page/fine.html"): None,
        url("/reset"): "refused",
        url("/reset-mid"): "refused",
        url("/truncated"): "refused",
        url("/drip"): "timeout",
        url("/drip-headers"): "timeout",
        url("/hang"): "timeout",
        url("/bomb.html"): "too_large",
        url("/bomb2.html"): "too_large",
        url("/bomb-deflate.html"): "too_large",
        url("/big/length"): "too_large",
        url("/big/chunked"): "too_large",
        url("/big/close"): "too_large",
        url("/corrupt-gzip.html"): "bad_encoding",
        url("/br.html"): "bad_encoding",
        url("/loop"): "too_many_redirects",
        url("/loop-a"): "too_many_redirects",
        url("/to-canary"): "blocked_address",
        url("/to-metadata"): "blocked_address",
        url("/to-evil"): "blocked_address",
        url("/page/e2e-evil.html", host="evil.test"): "blocked_address",
        url("/to-file"): "bad_url",
        url("/to-ftp"): "bad_url",
        url("/to-creds"): "bad_url",
        url("/to-bad-location"): "bad_url",
        f"http://user:secret@{s.netloc}/page/creds-link.html": "bad_url",
        url("/no-location"): "http_302",
        url("/nowhere"): "http_404",
        url("/private/e2e.html"): "robots_disallowed",
        url("/page/e2e-down.html", host="down.test"): "robots_unavailable",
        url("/retry/429-always/3600/e2e", host="busy.test"): "http_429",
        url("/retry/429/1/e2e"): None,
        url("/retry/503-date/1/e2e"): None,
        url("/bin/png-as-html"): "not_html",
        url("/bin/png"): "not_html",
        url("/bin/pdf"): "not_html",
        url("/bin/octet"): "not_html",
    }
    flaky = [url(f"/flaky/e2e-{i}") for i in range(6)]
    s.static(
        "/feeds/hostile.xml",
        rss([(f"entry {i}", link) for i, link in enumerate([*pages, *flaky])]),
        "application/rss+xml",
    )
    feeds: dict[str, str | None] = {
        url("/feeds/hostile.xml"): None,
        url("/feeds/laughs.xml"): None,
        url("/feeds/cp1251.xml"): None,
        url("/feeds/octet.xml"): "not_a_feed",
        url("/feeds/png.xml"): "not_a_feed",
        url("/feeds/bomb.xml"): "too_large",
        url("/to-canary?as=feed"): "blocked_address",
        url("/feeds/evil.xml", host="evil.test"): "blocked_address",
    }
    db = tmp_path / "w.duckdb"
    cfg = write_config(
        tmp_path / "c.toml",
        feeds=list(feeds),
        db=db,
        seeds=seeds_dir,
        network={
            "allowed_hosts": [s.netloc, f"busy.test:{s.port}", f"down.test:{s.port}"],
            "resolve": {h: "127.0.0.1" for h in ("evil.test", "busy.test", "down.test")},
            "timeout_seconds": 2,
            "per_host_concurrency": 4,
            "contact": CONTACT,
        },
    )
    seen_before = len(s.requests())
    summary = monitor(config=str(cfg))
    assert summary["status"] == "completed"
    hits = s.requests()[seen_before:]

    errors = {
        (u, stage): r for u, stage, r in _rows(db, "SELECT url, stage, reason FROM fetch_errors")
    }
    articles = {u for (u,) in _rows(db, "SELECT url FROM articles")}
    # every feed: polled, or failed with its reason
    for feed, want in feeds.items():
        assert errors.get((canonical_url(feed), "feed")) == want, feed
    # every hostile page: a failure with its reason, or an article
    flaky_500 = {u for u in flaky if s.status_of(urlsplit(u).path) == [500]}
    expected = pages | {u: ("http_500" if u in flaky_500 else None) for u in flaky}
    expected |= {url(f"/enc/{p}"): None for p in ENCODED_PAGES}  # from the windows-1251 feed
    expected[url("/page/laughs.html")] = None  # from the billion-laughs feed
    for link, want in expected.items():
        key = canonical_url(link)
        got = next((r for (u, stage), r in errors.items() if u == key and stage != "feed"), None)
        if want is None:
            assert got is None and key in articles, (link, got)
        else:
            assert got == want, (link, got)
    stages = {r: stage for (u, stage), r in errors.items() if stage != "feed"}
    assert stages["robots_disallowed"] == "robots" and stages["robots_unavailable"] == "robots"
    assert all(r in REASONS or r.startswith("http_") for r in errors.values())
    # the refused addresses were never contacted; the robots-disallowed page was never asked for
    assert canary.connections == []
    assert not [h for h in hits if h.host.startswith("evil.test")]
    assert not [h for h in hits if h.path in ("/private/e2e.html", "/page/e2e-down.html")]
    # the windows-1251 page reads as Russian
    (text,) = _rows(
        db, f"SELECT text FROM articles WHERE url = '{canonical_url(url('/enc/cp1251.html'))}'"
    )[0]
    assert "Жители Москвы" in text
    assert all(CONTACT in h.headers.get("user-agent", "") for h in hits)
