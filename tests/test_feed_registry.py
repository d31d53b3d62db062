"""Feed management: the registry (`corpus-monitor feeds`), OPML import and export, discovery of
a site's feeds, news sitemaps as sources, per-feed and group cadence, adaptive polling and
due-only runs. Loopback sites, real DuckDB files, real flow runs."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import pytest
from conftest import cli, rows, write_config

from flows.config import Settings, load_settings
from flows.demo.server import Answer, SiteServer
from flows.errors import ConfigError
from flows.orchestration.monitor import due_feeds, monitor

pytestmark = pytest.mark.clock  # also run with the clock a year ahead

XML = (("Content-Type", "application/rss+xml"),)
PLAIN_XML = (("Content-Type", "application/xml"),)
HTML = (("Content-Type", "text/html; charset=utf-8"),)
SLUGS = [
    "tesla-q3-deliveries",
    "kyiv-power-grid-winter",
    "moscow-central-bank-rate",
    "coral-reef-heat-study",
    "tallinn-tram-extension",
]


def config_for(
    tmp_path: Path, seeds: Path, site: SiteServer, feeds: list[str] | None = None, extra: str = ""
) -> Path:
    cfg = write_config(
        tmp_path / "c.toml",
        feeds=feeds or [],
        db=tmp_path / "w.duckdb",
        seeds=seeds,
        network={"allowed_hosts": [urlsplit(site.base_url).netloc]},
    )
    if extra:
        cfg.write_text(cfg.read_text() + extra)
    return cfg


def rss(
    entries: list[tuple[str, datetime | None]], title: str = "A feed", extra: str = ""
) -> bytes:
    items = "".join(
        f"<item><title>{link.rsplit('/', 1)[-1]}</title><link>{link}</link>"
        + (f"<pubDate>{when.strftime('%a, %d %b %Y %H:%M:%S GMT')}</pubDate>" if when else "")
        + "</item>"
        for link, when in entries
    )
    return (
        "<?xml version='1.0'?><rss version='2.0' "
        "xmlns:sy='http://purl.org/rss/1.0/modules/syndication/'>"
        f"<channel><title>{title}</title>{extra}{items}</channel></rss>"
    ).encode()


def homepage(head: str = "") -> bytes:
    return (
        f"<!doctype html><html><head><title>Site</title>{head}</head>"
        "<body><h1>Front page</h1><a href='/articles/tesla-q3-deliveries.html'>x</a></body></html>"
    ).encode()


# --- OPML ------------------------------------------------------------------------------------

QUIRKY_OPML = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0">
  <head><title>Subscriptions &eacute;xported</title></head>
  <body>
    <outline text="News" title="News">
      <outline text="Europe">
        <outline type="rss" text="Le Journal &eacute;conomique" title="Le Journal &eacute;conomique"
                 xmlUrl="{base}/feeds/journal.xml?lang=fr&amp;section=eco"/>
        <outline type="rss" text="Tom &amp;amp; Jerry&nbsp;Daily" XMLURL="{base}/feeds/tj.xml"/>
      </outline>
      <outline type="rss" url="{base}/feeds/untitled.atom"/>
      <outline type="rss" text="Again, in another folder" xmlUrl="{base}/feeds/tj.xml"/>
    </outline>
    <outline text="Tech">
      <outline type="rss" text="Gadgets" xmlUrl="feed://{host}/feeds/gadgets.xml"/>
      <outline type="rss" text="Gadgets twice" xmlUrl="feed://{host}/feeds/gadgets.xml"/>
    </outline>
    <outline type="link" text="A web page, not a feed" url="{base}/about.html"/>
    <outline type="rss" text="Top level" xmlUrl="{base}/feeds/top.xml"/>
    <outline type="rss" text="No host" xmlUrl="http:///feeds/nohost.xml"/>
    <outline type="rss" text="Declared in the config" xmlUrl="{base}/feeds/meridian.xml"/>
  </body>
</opml>
"""


def test_opml_with_folders_and_quirks_imports_into_groups_and_exports_back(
    tmp_path: Path, site: SiteServer, seeds_dir: Path
) -> None:
    base, host = site.base_url, urlsplit(site.base_url).netloc
    cfg = config_for(tmp_path, seeds_dir, site, feeds=[f"{base}/feeds/meridian.xml"])
    opml = tmp_path / "subs.opml"
    opml.write_text(QUIRKY_OPML.format(base=base, host=host), encoding="utf-8")

    code, out = cli("feeds", "import", opml, "--config", cfg)
    assert code == 0, out
    assert "7 feeds in 3 groups; 5 added, 0 already in the registry, 1 declared in the config" in (
        out
    )
    assert "2 listed twice (first kept), 2 skipped" in out
    assert "skipped: http:///feeds/nohost.xml ('http:///feeds/nohost.xml' has no host)" in out
    db = tmp_path / "w.duckdb"
    registry = rows(db, "SELECT url, name, group_name, source FROM feed_registry ORDER BY url")
    assert registry == sorted([
        (f"{base}/feeds/journal.xml?lang=fr&section=eco", "Le Journal économique",
         "News / Europe", "opml"),
        (f"{base}/feeds/tj.xml", "Tom & Jerry Daily", "News / Europe", "opml"),
        (f"{base}/feeds/top.xml", "Top level", None, "opml"),
        (f"{base}/feeds/untitled.atom", None, "News", "opml"),
        (f"http://{host}/feeds/gadgets.xml", "Gadgets", "Tech", "opml"),
    ])  # fmt: skip
    assert rows(db, "SELECT name FROM feed_groups ORDER BY name") == [
        ("News",),
        ("News / Europe",),
        ("Tech",),
    ]

    # importing again changes nothing
    code, out = cli("feeds", "import", opml, "--config", cfg)
    assert code == 0 and "0 added, 5 already in the registry" in out, out

    # one more from the command line (as it is, not checked), then the list with the sources
    code, out = cli(
        "feeds", "add", f"{base}/feeds/extra.xml", "--no-discover", "--name", "Extra",
        "--group", "Tech", "--every", "2h", "--config", cfg,
    )  # fmt: skip
    assert code == 0 and f"added {base}/feeds/extra.xml (Extra) in group 'Tech'" in out, out
    code, out = cli("feeds", "list", "--config", cfg, "--format", "json")
    assert code == 0, out
    listed = {r["url"]: r for r in map(json.loads, out.splitlines())}
    assert listed[f"{base}/feeds/meridian.xml"]["source"] == "config"
    assert listed[f"{base}/feeds/tj.xml"]["source"] == "opml"
    assert listed[f"{base}/feeds/tj.xml"]["group"] == "News / Europe"
    assert listed[f"{base}/feeds/extra.xml"]["source"] == "cli"
    assert listed[f"{base}/feeds/extra.xml"]["every"] == "every 2h"
    assert listed[f"{base}/feeds/tj.xml"]["state"] == "never polled"
    assert len(listed) == 7

    # an imported folder gets a cadence and topics
    code, out = cli(
        "feeds", "group", "News / Europe", "--every", "1h", "--topics", "russia", "--config", cfg
    )
    assert code == 0 and "group 'News / Europe' (registry): every 3600 s; russia" in out, out
    code, out = cli("feeds", "list", "--config", cfg, "--format", "json")
    listed = {r["url"]: r for r in map(json.loads, out.splitlines())}
    assert listed[f"{base}/feeds/tj.xml"]["every"] == "every 1h"
    assert listed[f"{base}/feeds/untitled.atom"]["every"].startswith("adaptive")
    settings = registry_settings(cfg)
    assert settings.topic_scopes()[f"{base}/feeds/tj.xml"] == frozenset({"russia"})
    code, out = cli("feeds", "group", "Tech", "--topics", "mars", "--config", cfg)
    assert code == 2 and "--topics: unknown topic(s) mars" in out, out
    code, out = cli("feeds", "group", "Nowhere", "--config", cfg)
    assert code == 2 and "no group 'Nowhere'" in out, out

    # export, then import into a new warehouse: the same registry
    exported = tmp_path / "out.opml"
    code, out = cli("feeds", "export", exported, "--config", cfg)
    assert code == 0 and "7 feeds" in out, out
    other = tmp_path / "other.duckdb"
    code, out = cli("feeds", "import", exported, "--config", cfg, "--db", other)
    assert code == 0, out
    same = "SELECT url, name, group_name FROM feed_registry ORDER BY url"
    assert [r for r in rows(other, same) if not r[0].endswith("extra.xml")] == [
        r for r in rows(db, same) if not r[0].endswith("extra.xml")
    ]
    assert (f"{base}/feeds/extra.xml", "Extra", "Tech") in rows(other, same)
    assert rows(other, "SELECT name FROM feed_groups ORDER BY name") == rows(
        db, "SELECT name FROM feed_groups ORDER BY name"
    )

    # remove: by name; a config feed is refused with a pointer to the config
    code, out = cli("feeds", "remove", "Top level", "--config", cfg)
    assert code == 0 and f"removed {base}/feeds/top.xml" in out, out
    code, out = cli("feeds", "remove", f"{base}/feeds/meridian.xml", "--config", cfg)
    assert code == 2 and "declared in the config" in out, out
    code, out = cli("feeds", "remove", "nothing-like-it", "--config", cfg)
    assert code == 2 and "no feed 'nothing-like-it' in the registry" in out, out


BAD_OPML = {
    "not-xml.opml": (b"Title,URL\nA,https://a.example/feed\n", "not well-formed XML"),
    "rss.opml": (b"<?xml version='1.0'?><rss version='2.0'><channel/></rss>", "is <rss>, not"),
    "empty.opml": (
        b"<opml version='2.0'><head/><body><outline text='Folder'/></body></opml>",
        "no <outline> with a feed URL",
    ),
    "laughs.opml": (
        b"<?xml version='1.0'?><!DOCTYPE opml [<!ENTITY a 'aaaaaaaaaa'>"
        b"<!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'><!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;'>]>"
        b"<opml><body><outline text='&c;' xmlUrl='https://a.example/&c;'/></body></opml>",
        "declares its own XML entities",
    ),
    "truncated.opml": (b"<opml><body><outline xmlUrl='https://a.example/f'", "not well-formed"),
}


@pytest.mark.parametrize("name", sorted(BAD_OPML))
def test_a_bad_opml_file_is_refused_with_a_clear_message(
    tmp_path: Path, site: SiteServer, seeds_dir: Path, name: str
) -> None:
    cfg = config_for(tmp_path, seeds_dir, site)
    data, expected = BAD_OPML[name]
    path = tmp_path / name
    path.write_bytes(data)
    code, out = cli("feeds", "import", path, "--config", cfg)
    assert code == 2, out
    assert f"corpus-monitor: {path}: " in out and expected in out, out
    assert "Traceback" not in out
    assert not (tmp_path / "w.duckdb").exists() or rows(
        tmp_path / "w.duckdb", "SELECT count(*) FROM feed_registry"
    ) == [(0,)]


def test_a_missing_opml_file(tmp_path: Path, site: SiteServer, seeds_dir: Path) -> None:
    cfg = config_for(tmp_path, seeds_dir, site)
    code, out = cli("feeds", "import", tmp_path / "nope.opml", "--config", cfg)
    assert code == 2 and "nope.opml: cannot read" in out, out


# --- discovery -------------------------------------------------------------------------------


def test_add_finds_the_feeds_a_homepage_links(
    tmp_path: Path, site: SiteServer, seeds_dir: Path
) -> None:
    links = (
        '<link rel="alternate" type="application/rss+xml" title="Main" href="/news/rss">'
        '<link rel="alternate" type="application/atom+xml" title="Comments" '
        f'href="{site.base_url}/comments.atom">'
        '<link rel="stylesheet" href="/style.css">'
    )
    site.route("/", Answer(200, homepage(links), HTML))
    now = datetime.now(UTC)
    site.route("/news/rss", Answer(200, rss([(site.url("/a/1"), now)], "Main news"), XML))
    atom = (
        "<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom'><title>Comments</title>"
        f"<entry><title>c</title><link href='{site.url('/c/1')}'/><id>c1</id>"
        "<updated>2026-01-01T00:00:00Z</updated></entry></feed>"
    ).encode()
    site.route("/comments.atom", Answer(200, atom, (("Content-Type", "application/atom+xml"),)))
    cfg = config_for(tmp_path, seeds_dir, site)

    code, out = cli("feeds", "add", site.url("/"), "--config", cfg)
    assert code == 0, out
    assert f'+ {site.url("/news/rss")}  [rss, 1 entries, link rel="alternate"]' in out
    assert f"  {site.url('/comments.atom')}  [atom" in out  # offered, not added
    assert rows(tmp_path / "w.duckdb", "SELECT url, name, source FROM feed_registry") == [
        (site.url("/news/rss"), "Main news", "cli")
    ]
    assert "/feed" not in site.paths()  # found on the page: no guessing
    # --all adds the other one too
    code, out = cli("feeds", "add", site.url("/"), "--all", "--config", cfg)
    assert code == 0 and "already in the registry" in out and "added" in out, out
    assert len(rows(tmp_path / "w.duckdb", "SELECT * FROM feed_registry")) == 2


@pytest.mark.parametrize("path", ["/feed", "/rss.xml"])
def test_add_finds_a_feed_at_a_common_path(
    tmp_path: Path, site: SiteServer, seeds_dir: Path, path: str
) -> None:
    """A homepage that declares no feed: the common paths are tried in order (a soft 404, the
    homepage served again at /rss, is not taken for a feed)."""
    site.route("/", Answer(200, homepage(), HTML))
    site.route("/rss", Answer(200, homepage(), HTML))
    site.route(path, Answer(200, rss([(site.url("/a/1"), None)], "Found by path"), XML))
    cfg = config_for(tmp_path, seeds_dir, site)
    code, out = cli("feeds", "add", site.url("/"), "--name", "My name", "--config", cfg)
    assert code == 0, out
    assert f"common path {path}" in out
    assert rows(tmp_path / "w.duckdb", "SELECT url, name, source FROM feed_registry") == [
        (site.url(path), "My name", "cli")
    ]
    tried = ["/", "/feed"] if path == "/feed" else ["/", "/feed", "/rss", "/rss.xml"]
    assert site.paths() == tried  # stops at the first feed


def test_add_a_site_whose_only_source_is_a_news_sitemap_and_poll_it(
    prefect, tmp_path: Path, site: SiteServer, seeds_dir: Path
) -> None:
    """A homepage with no feed; robots.txt names a sitemap index whose newest sitemap is a
    gzip news sitemap. Discovery adds it; a run reads it like a feed and loads its articles."""
    now = datetime.now(UTC)
    site.route("/", Answer(200, homepage(), HTML))
    site.route(
        "/robots.txt",
        Answer(
            200, f"User-agent: *\nAllow: /\nSitemap: {site.url('/sitemap_index.xml')}\n".encode()
        ),
    )
    index = (
        "<?xml version='1.0'?><sitemapindex xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
        f"<sitemap><loc>{site.url('/sitemap-pages.xml')}</loc><lastmod>2025-01-01</lastmod>"
        "</sitemap>"
        f"<sitemap><loc>{site.url('/news.xml.gz')}</loc><lastmod>{now:%Y-%m-%d}</lastmod></sitemap>"
        "</sitemapindex>"
    ).encode()
    site.route("/sitemap_index.xml", Answer(200, index, PLAIN_XML))
    pages = (
        "<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
        f"<url><loc>{site.url('/about.html')}</loc><lastmod>2025-01-01</lastmod></url></urlset>"
    ).encode()
    site.route("/sitemap-pages.xml", Answer(200, pages, PLAIN_XML))
    urls = "".join(
        f"<url><loc>{site.url(f'/articles/{slug}.html')}</loc><news:news><news:publication>"
        "<news:name>The Loopback Times</news:name><news:language>en</news:language>"
        f"</news:publication><news:publication_date>{(now - timedelta(hours=i)).isoformat()}"
        f"</news:publication_date><news:title>Story {i} &amp; more</news:title></news:news></url>"
        for i, slug in enumerate(SLUGS[:3])
    )
    news = (
        "<?xml version='1.0' encoding='UTF-8'?>"
        "<urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9' "
        f"xmlns:news='http://www.google.com/schemas/sitemap-news/0.9'>{urls}</urlset>"
    ).encode()
    site.route(
        "/news.xml.gz", Answer(200, gzip.compress(news), (("Content-Type", "application/gzip"),))
    )
    cfg = config_for(tmp_path, seeds_dir, site)

    code, out = cli("feeds", "add", site.url("/"), "--config", cfg)
    assert code == 0, out
    assert "[news_sitemap, 3 entries, robots.txt Sitemap]" in out, out
    db = tmp_path / "w.duckdb"
    assert rows(db, "SELECT url FROM feed_registry") == [(site.url("/sitemap_index.xml"),)]

    # the flow polls the registry's sitemap with no [[feeds]] in the config
    summary = monitor(config=str(cfg))
    assert summary["feeds_polled"] == 1 and summary["articles_new"] == 3
    assert rows(db, "SELECT status, items FROM feed_polls") == [("ok", 3)]
    assert sorted(u for (u,) in rows(db, "SELECT url FROM articles")) == sorted(
        site.url(f"/articles/{slug}.html") for slug in SLUGS[:3]
    )
    # entry dates come from <news:publication_date>
    ((dated,),) = rows(db, "SELECT count(published_at) FROM feed_entries")
    assert dated == 3


def test_add_reports_what_it_tried_when_a_site_has_no_feed(
    tmp_path: Path, site: SiteServer, seeds_dir: Path
) -> None:
    site.route("/", Answer(200, homepage(), HTML))
    cfg = config_for(tmp_path, seeds_dir, site)
    code, out = cli("feeds", "add", site.url("/"), "--config", cfg)
    assert code == 1, out
    assert "no feed or news sitemap found" in out and "/feed (http_404)" in out, out
    code, out = cli("feeds", "add", "ftp://x.example/feed", "--config", cfg)
    assert code == 2 and "is not an http(s) URL" in out, out
    code, out = cli("feeds", "add", site.url("/x.xml"), "--every", "soon", "--config", cfg)
    assert code == 2 and "--every: 'soon' is not a duration" in out, out


def test_discovery_refuses_private_addresses_like_every_fetch(
    tmp_path: Path, site: SiteServer, seeds_dir: Path
) -> None:
    cfg = write_config(
        tmp_path / "c.toml", feeds=[], db=tmp_path / "w.duckdb", seeds=seeds_dir
    )  # the loopback site is not allowed here
    code, out = cli("feeds", "add", site.url("/"), "--config", cfg)
    assert code == 1 and "blocked_address" in out, out
    assert site.paths() == []


# --- groups, cadence, due-only runs ----------------------------------------------------------


def test_group_config_is_validated(tmp_path: Path, site: SiteServer, seeds_dir: Path) -> None:
    base = config_for(tmp_path, seeds_dir, site).read_text()
    cfg = tmp_path / "g.toml"
    cfg.write_text(base + "[[feeds]]\nurl = 'https://a.example/rss'\ngroup = 'Missing'\n")
    with pytest.raises(ConfigError, match=r"feeds\[0\]\.group: unknown group 'Missing'"):
        load_settings(cfg)
    cfg.write_text(base + "[groups.\"World news\"]\ntopics = ['mars']\n")
    with pytest.raises(ConfigError, match=r"groups\.\"World news\"\.topics: unknown topic 'mars'"):
        load_settings(cfg)
    cfg.write_text(base + "[groups.wire]\nevery = 'often'\n")
    with pytest.raises(ConfigError, match=r"groups\.wire\.every: .*'often' is not a duration"):
        load_settings(cfg)
    cfg.write_text(base + "[cadence]\nmin_every = '2h'\nmax_every = '1h'\n")
    with pytest.raises(ConfigError, match=r"min_every .* must not exceed max_every"):
        load_settings(cfg)


def registry_settings(cfg: Path) -> Settings:
    """The config's settings with the warehouse's registry merged in, as a run sees them."""
    from flows.sources import registry
    from flows.warehouse import store as wh

    settings = load_settings(cfg)
    with wh.connect(settings.warehouse.path) as con:
        return registry.merged(con, settings)


def hourly_feed(site: SiteServer, clock: dict[str, datetime], hours: int = 24) -> Answer:
    """A feed with an entry every hour up to the clock's time (its latest 24; their pages are
    gone: only the feed matters here)."""
    now = clock["now"]
    times = [now - timedelta(hours=h) for h in range(hours)]
    series = clock["series"]  # new entries, new links
    entries = [(site.url(f"/gone/{series:%s}-{n}.html"), t) for n, t in enumerate(times)]
    return Answer(200, rss(entries, "Hourly"), XML)


def shift(db: Path, delta: timedelta) -> None:
    """Move the warehouse's feed history back in time, as if ``delta`` had passed."""
    with duckdb.connect(str(db)) as con:
        s = int(delta.total_seconds())
        con.execute(
            f"UPDATE feed_entries SET first_seen_at = first_seen_at - to_seconds({s}), "
            f"published_at = published_at - to_seconds({s})"
        )
        con.execute(
            f"UPDATE feeds SET last_polled_at = last_polled_at - to_seconds({s}), "
            f"last_success_at = last_success_at - to_seconds({s})"
        )


def test_adaptive_interval_follows_the_publishing_rate_and_due_only_polls_what_is_due(
    prefect, tmp_path: Path, site: SiteServer, seeds_dir: Path
) -> None:
    clock = {"now": datetime.now(UTC), "series": datetime.now(UTC)}
    site.route("/feeds/hourly.xml", lambda path, headers: hourly_feed(site, clock))
    site.route(
        "/feeds/fixed.xml",
        Answer(200, rss([(site.url("/articles/coral-reef-heat-study.html"), None)]), XML),
    )
    hourly, fixed = site.url("/feeds/hourly.xml"), site.url("/feeds/fixed.xml")
    extra = f"[groups.slow]\nevery = '6h'\n[[feeds]]\nurl = '{fixed}'\ngroup = 'slow'\n"
    cfg = config_for(tmp_path, seeds_dir, site, feeds=[hourly], extra=extra)
    db = tmp_path / "w.duckdb"
    settings = load_settings(cfg)

    monitor(config=str(cfg))
    code, out = cli("feeds", "list", "--config", cfg, "--format", "json")
    assert code == 0, out
    listed = {r["url"]: r for r in map(json.loads, out.splitlines())}
    assert listed[hourly]["every"].startswith("adaptive: 24 entries in "), listed[hourly]
    assert listed[hourly]["items_per_day"] == pytest.approx(24, rel=0.1)
    assert listed[fixed]["every"] == "every 6h"  # the group's cadence
    ((polled,),) = rows(db, "SELECT last_polled_at FROM feeds WHERE url = ?", [hourly])
    nxt = datetime.strptime(listed[hourly]["next_poll"], "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    assert abs((nxt - polled).total_seconds() - 3600) < 5 * 60  # about hourly

    now = datetime.now(UTC)
    assert due_feeds(settings, now + timedelta(minutes=30)) == []
    assert [f.url for f in due_feeds(settings, now + timedelta(minutes=70))] == [hourly]
    assert {f.url for f in due_feeds(settings, now + timedelta(hours=6, minutes=1))} == {
        hourly,
        fixed,
    }

    # an hour and ten minutes later the hourly feed is due, the 6-hourly one is not: a due-only
    # run polls the first alone
    shift(db, timedelta(minutes=70))
    before = (len(site.paths("/feeds/hourly.xml")), len(site.paths("/feeds/fixed.xml")))
    summary = monitor(config=str(cfg), due_only=True)
    assert summary["feeds_polled"] == 1
    assert len(site.paths("/feeds/hourly.xml")) == before[0] + 1
    assert len(site.paths("/feeds/fixed.xml")) == before[1]

    # the feed stops publishing: a week later it still lists its last entries, now a week old;
    # a run sees it and the interval grows to the 24 h ceiling
    shift(db, timedelta(days=8))
    clock["now"] = clock["now"] - timedelta(days=8)
    monitor(config=str(cfg))
    code, out = cli("feeds", "list", "--config", cfg, "--format", "json")
    assert code == 0, out
    listed = {r["url"]: r for r in map(json.loads, out.splitlines())}
    assert listed[hourly]["every"] == "adaptive: no entry for 7d", listed[hourly]
    assert listed[hourly]["items_per_day"] == 0.0
    now = datetime.now(UTC)
    assert hourly not in [f.url for f in due_feeds(settings, now + timedelta(hours=23))]
    assert hourly in [f.url for f in due_feeds(settings, now + timedelta(hours=24, minutes=1))]

    # it publishes hourly again: back to about hourly after one poll
    shift(db, timedelta(hours=25))
    clock["now"] = clock["series"] = datetime.now(UTC)
    monitor(config=str(cfg), due_only=True)
    code, out = cli("feeds", "list", "--config", cfg, "--format", "json")
    assert code == 0, out
    listed = {r["url"]: r for r in map(json.loads, out.splitlines())}
    assert listed[hourly]["every"].startswith("adaptive: 24 entries in "), listed[hourly]


def test_a_feed_ttl_is_a_floor_for_the_adaptive_interval(
    prefect, tmp_path: Path, site: SiteServer, seeds_dir: Path
) -> None:
    now = datetime.now(UTC)
    entries = [(site.url(f"/x/{h}"), now - timedelta(hours=h)) for h in range(12)]
    site.route(
        "/feeds/ttl.xml",
        Answer(
            200,
            rss(
                entries,
                extra="<sy:updatePeriod>daily</sy:updatePeriod>"
                "<sy:updateFrequency>4</sy:updateFrequency>",
            ),
            XML,
        ),
    )
    cfg = config_for(tmp_path, seeds_dir, site, feeds=[site.url("/feeds/ttl.xml")])
    monitor(config=str(cfg))
    assert rows(tmp_path / "w.duckdb", "SELECT ttl_seconds FROM feeds") == [(6 * 3600,)]
    code, out = cli("feeds", "list", "--config", cfg, "--format", "json")
    assert code == 0, out
    (row,) = map(json.loads, out.splitlines())
    assert row["every"].endswith("the feed asks for 6h"), row


def test_a_group_with_topics_limits_topic_matching_to_them(
    prefect, tmp_path: Path, site: SiteServer, seeds_dir: Path
) -> None:
    baltic, musk = site.url("/feeds/baltic.xml"), site.url("/feeds/topics-musk.xml")
    extra = f"[groups.baltic]\ntopics = ['russia']\n[[feeds]]\nurl = '{baltic}'\ngroup = 'baltic'\n"
    cfg = config_for(tmp_path, seeds_dir, site, feeds=[musk], extra=extra)
    db = tmp_path / "w.duckdb"
    monitor(config=str(cfg))
    tagged = """
        SELECT a.url, list(DISTINCT t.topic ORDER BY t.topic),
               bool_or(f.feed_url = ?) AS via_unrestricted
        FROM articles a JOIN article_topics t USING (article_id)
        JOIN article_feeds f USING (article_id) GROUP BY a.url ORDER BY a.url
    """
    before = rows(db, tagged, [musk])
    only_baltic = [(url, topics) for url, topics, open_ in before if not open_]
    shared = [(url, topics) for url, topics, open_ in before if open_]
    assert only_baltic and all(topics == ["russia"] for _, topics in only_baltic), only_baltic
    assert any(set(topics) - {"russia"} for _, topics in shared), shared
    # the restriction did something: Baltic Wire articles mention Ukraine
    (url_ukraine,) = [u for u, _ in only_baltic if "ukraine-drone" in u]
    ((text,),) = rows(db, "SELECT text FROM articles WHERE url = ?", [url_ukraine])
    assert "Ukrain" in text
    # retag keeps to the groups' topics
    code, out = cli("retag", "--config", cfg)
    assert code == 0, out
    assert rows(db, tagged, [musk]) == before


def test_an_older_warehouse_gets_the_registry_by_migration(tmp_path: Path) -> None:
    from flows.warehouse import store as wh

    db = tmp_path / "old.duckdb"
    with wh.connect(db):
        pass
    # the warehouse as schema 6 left it: no registry, no entries, no ttl column (from an older
    # schema, the migrations before 007 run first)
    with duckdb.connect(str(db)) as con:
        con.execute("DROP TABLE feed_registry")
        con.execute("DROP TABLE feed_groups")
        con.execute("DROP TABLE feed_entries")
        con.execute("ALTER TABLE feeds DROP COLUMN ttl_seconds")
        con.execute("DELETE FROM schema_info")
        con.execute("INSERT INTO schema_info (version) VALUES (6)")
    assert [m.name[:3] for m in wh.migrations(6)] == ["007", "008"]
    with wh.connect(db) as con:
        assert wh.schema_version(con) == wh.SCHEMA_VERSION == 8
        con.execute("INSERT INTO feeds (url, ttl_seconds) VALUES ('https://a.example/f', 60)")
        assert con.execute("SELECT count(*) FROM feed_registry").fetchall() == [(0,)]
        assert con.execute("SELECT count(*) FROM feed_entries").fetchall() == [(0,)]


def test_the_config_wins_over_the_registry_on_the_same_url_or_name(
    tmp_path: Path, site: SiteServer, seeds_dir: Path
) -> None:
    base = site.base_url
    cfg = config_for(tmp_path, seeds_dir, site)
    cfg.write_text(
        cfg.read_text() + f"[[feeds]]\nurl = '{base}/feeds/meridian.xml'\nname = 'Meridian'\n"
    )
    # the same feed with a tracking parameter and a fragment
    code, out = cli(
        "feeds", "add", f"{base}/feeds/meridian.xml?utm_source=x#top", "--no-discover",
        "--config", cfg,
    )  # fmt: skip
    assert code == 0 and "declared in the config, left to it" in out, out
    # another URL under the config feed's name: kept, but not polled on its own
    code, out = cli(
        "feeds", "add", f"{base}/feeds/baltic.xml", "--name", "meridian", "--no-discover",
        "--config", cfg,
    )  # fmt: skip
    assert code == 0 and "added" in out, out
    code, out = cli("feeds", "list", "--config", cfg)
    assert code == 0 and "is not polled on its own" in out, out
    assert [f.url for f in registry_settings(cfg).feeds] == [f"{base}/feeds/meridian.xml"]
    # two registry feeds with one name: removing by that name asks for the URL
    for path in ("/a.xml", "/b.xml"):
        code, out = cli(
            "feeds", "add", f"{base}{path}", "--name", "Twin", "--no-discover", "--config", cfg
        )
        assert code == 0, out
    code, out = cli("feeds", "remove", "twin", "--config", cfg)
    assert code == 2 and "2 feeds are named 'twin'" in out, out
    code, out = cli("feeds", "remove", f"{base}/a.xml", "--config", cfg)
    assert code == 0 and f"removed {base}/a.xml (Twin)" in out, out


def test_add_a_feed_url_directly_even_one_served_as_html(
    tmp_path: Path, site: SiteServer, seeds_dir: Path
) -> None:
    site.route("/mislabelled", Answer(200, rss([(site.url("/a/1"), None)], "Mislabelled"), HTML))
    cfg = config_for(tmp_path, seeds_dir, site)
    code, out = cli("feeds", "add", site.url("/mislabelled"), "--config", cfg)
    assert code == 0 and "[rss, 1 entries, the URL given]  Mislabelled" in out, out
    assert site.paths() == ["/mislabelled"]


def test_hostile_sitemaps_are_read_safely() -> None:
    import time

    from flows.errors import FetchError
    from flows.sources.feeds import read_feed
    from flows.sources.sitemaps import gunzip

    laughs = (
        b"<?xml version='1.0'?><!DOCTYPE urlset [<!ENTITY a 'aaaaaaaaaaaaaaaaaaaa'>"
        + b"".join(
            f"<!ENTITY {chr(98 + i)} '{('&' + chr(97 + i) + ';') * 10}'>".encode() for i in range(8)
        )
        + b"]><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
        b"<url><loc>https://a.example/&i;</loc></url>"
        b"<url><loc>https://a.example/fine</loc></url></urlset>"
    )
    started = time.monotonic()
    with pytest.raises(FetchError, match="malformed_feed"):  # libxml2 refuses the amplification
        read_feed("https://a.example/sitemap.xml", laughs, {})
    assert time.monotonic() - started < 1
    # a gzip bomb stops at the cap
    bomb = gzip.compress(b"<urlset>" + b" " * 50_000_000)
    with pytest.raises(FetchError, match="too_large"):
        gunzip("https://a.example/s.xml.gz", bomb, 1_000_000)
    with pytest.raises(FetchError, match="bad_encoding"):
        gunzip("https://a.example/s.xml.gz", b"\x1f\x8bnot gzip", 1_000_000)
    # not a sitemap: a clear reason
    with pytest.raises(FetchError, match="not_a_feed"):
        read_feed(
            "https://a.example/x.xml", b"<?xml version='1.0'?><urlsetx><urlset/></urlsetx>", {}
        )
