"""A loopback HTTP server that misbehaves on purpose: every path is a fault a real server, or an
attacker, can produce. It records every connection and every request (path, Host, headers,
start and end times), so a test can prove what was and was not asked for.

=========================  =====================================================================
path                       answer
=========================  =====================================================================
/robots.txt                per Host name (:attr:`HostileServer.robots`); default disallows
                           /private/
/page/<slug>.html          an article (``text/html; charset=utf-8``)
/private/<slug>.html       an article that robots.txt disallows
/slow/<slug>.html          an article after :attr:`HostileServer.slow_seconds`
/reset                     the connection is reset (SO_LINGER 0) before any byte is sent
/reset-mid                 headers and part of the body, then a reset
/truncated                 ``Content-Length: 20000``, 1000 bytes, close
/drip                      headers, then one body byte a second
/drip-headers              the status line and headers, one byte a second
/hang                      the request is read, nothing is ever answered
/bomb.html                 ``Content-Encoding: gzip``: ~1 MB on the wire, 1 GB of zeros inflated
/bomb2.html                ``Content-Encoding: gzip, gzip``: ~2 KB on the wire, the same 1 GB
/bomb-deflate.html         ``Content-Encoding: deflate`` (raw deflate), the same 1 GB
/corrupt-gzip.html         ``Content-Encoding: gzip`` on bytes that are not gzip
/br.html                   ``Content-Encoding: br`` (never asked for)
/big/length                a 50 MB page with ``Content-Length``
/big/chunked               a 50 MB page, chunked, no length
/big/close                 a 50 MB page delimited by closing the connection
/loop, /loop-a, /loop-b    redirects to itself; a → b → a
/to-canary                 302 → the canary server (another loopback port)
/to-metadata               302 → http://169.254.169.254/latest/meta-data/
/to-evil                   302 → http://evil.test:<port>/page/evil.html
/to-file, /to-ftp          302 → file:///etc/passwd, ftp://<host>/x
/to-creds                  302 → http://user:secret@<host:port>/page/creds.html
/to-page                   301 → /page/redirected.html
/to-bad-location           302 → ``http://[::1/x`` (an unclosed bracket)
/no-location               302 without a Location header
/flaky/<n>                 500 or an article, drawn from a seeded generator per path
/retry/429/<s>/<id>        first request: 429 ``Retry-After: <s>``; then an article
/retry/503-date/<s>/<id>   first request: 503 with ``Retry-After`` an HTTP date <s> s ahead
/retry/429-always/<s>/<id> always 429 ``Retry-After: <s>``
/bin/png-as-html           PNG bytes served as ``text/html``
/bin/png, /bin/pdf         an image, a PDF, declared as such
/bin/octet                 ``application/octet-stream``
/enc/cp1252-wrong.html     windows-1252 bytes declared ``charset=utf-8``
/enc/cp1252-none.html      windows-1252 bytes, no charset anywhere
/enc/latin1-utf8.html      UTF-8 bytes declared ``charset=iso-8859-1``
/enc/cp1251.html           a Russian page in windows-1251, declared so
/feeds/laughs.xml          an RSS feed with a billion-laughs entity bomb in its DOCTYPE
/feeds/cp1251.xml          an RSS feed in windows-1251 (XML declaration only), linking /enc/*
/feeds/octet.xml           a valid RSS document served as ``application/octet-stream``
/feeds/png.xml             PNG bytes served as ``application/rss+xml``
/feeds/bomb.xml            the gzip bomb served as ``application/rss+xml``
anything else              404, or what :meth:`HostileServer.static` set
=========================  =====================================================================
"""

from __future__ import annotations

import email.utils
import hashlib
import random
import select
import socket
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field, replace
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

BOMB_BYTES = 1 << 30  # what the gzip bomb inflates to
BIG_BYTES = 50_000_000  # the 50 MB pages
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa75\x81\x84"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
) + bytes(range(256)) * 16
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
DEFAULT_ROBOTS = "User-agent: *\nDisallow: /private/\n"
ENCODED_PAGES = ("cp1252-wrong.html", "cp1252-none.html", "latin1-utf8.html", "cp1251.html")

CAFE = "Café owners in Zürich say the naïve plan costs €5 a day and “nobody” asked them. "
RUSSIAN = "Жители Москвы обсуждают новый план городского транспорта и цены на проезд. "


@cache
def gzip_bomb() -> bytes:
    """1 GB of zeros, gzip-compressed once per process (about 1 MB, a few seconds)."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    out = [c.compress(zeros) for _ in range(BOMB_BYTES >> 20)]
    out.append(c.flush())
    return b"".join(out)


@cache
def double_gzip_bomb() -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    return c.compress(gzip_bomb()) + c.flush()


@cache
def deflate_bomb() -> bytes:
    return gzip_bomb()[10:-8]  # the raw deflate stream inside the gzip member


def article_html(slug: str, *, title: str | None = None, text: str | None = None) -> str:
    """A small article page whose text is unique to ``slug``."""
    title = title or f"Report {slug}"
    words = hashlib.sha256(slug.encode()).hexdigest()
    para = text or (
        f"The council published report {slug} on Tuesday, and residents read it closely. "
        f"Reference {words[:12]} lists the budget, the schedule and the people in charge. "
        "Engineers said the work would start in spring and finish before the winter. "
    )
    body = "".join(f"<p>{para} Paragraph {i} of {slug}.</p>" for i in range(4))
    return (
        f"<!doctype html><html lang='en'><head><title>{title}</title></head><body>"
        f"<article><h1>{title}</h1>{body}</article></body></html>"
    )


def billion_laughs_feed(link: str) -> bytes:
    """RSS whose DOCTYPE defines the classic ten-level entity bomb (10^9 'lol's expanded)."""
    ents = ['<!ENTITY lol "lol">']
    prev = "lol"
    for i in range(1, 10):
        ents.append(f'<!ENTITY lol{i} "' + f"&{prev};" * 10 + '">')
        prev = f"lol{i}"
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [\n' + "\n".join(ents) + "\n]>\n"
        '<rss version="2.0"><channel><title>Laughs &lol9;</title>'
        f"<item><title>Laughs &lol9;</title><link>{link}</link>"
        "<description>&lol9;</description></item></channel></rss>"
    ).encode()


def rss(items: list[tuple[str, str]], *, title: str = "Hostile", encoding: str = "utf-8") -> bytes:
    """An RSS 2.0 document with one item per (title, link), encoded as asked."""
    body = "".join(
        f"<item><title>{t}</title><link>{link.replace('&', '&amp;')}</link></item>"
        for t, link in items
    )
    return (
        f"<?xml version='1.0' encoding='{encoding}'?>"
        f"<rss version='2.0'><channel><title>{title}</title>{body}</channel></rss>"
    ).encode(encoding)


@dataclass(frozen=True)
class Hit:
    """One request as the server saw it."""

    path: str
    host: str  # the Host header
    headers: dict[str, str]
    started: float  # time.monotonic() when the request line was read
    wall: float  # time.time() at the same moment
    status: int | None = None  # what was answered (None: nothing, or a reset)


@dataclass
class _Static:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class _Stats:
    in_flight: dict[str, int] = field(default_factory=dict)
    peak: dict[str, int] = field(default_factory=dict)  # most requests in flight per Host


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: HostileServer

    def verify_request(self, request: object, client_address: object) -> bool:
        self.owner._connected(client_address)
        return True

    def handle_error(self, request: object, client_address: object) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError, OSError)):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class HostileServer:
    """``with HostileServer(canary=canary.base_url) as s: s.url("/drip")``"""

    def __init__(self, *, seed: int = 20260101, canary: str | None = None) -> None:
        self.seed = seed
        self.canary = canary or "http://127.0.0.1:9/"
        self.slow_seconds = 0.3
        self.flaky_rate = 0.5
        self.robots: dict[str, tuple[int, str]] = {}  # Host name -> (status, robots.txt)
        self.hits: list[Hit] = []
        self.connections: list[tuple[float, object]] = []  # (monotonic time, client address)
        self._static: dict[str, _Static] = {}
        self._counts: dict[str, int] = {}
        self._stats = _Stats()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        owner = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "hostile/1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                owner._serve(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None

    # --- addresses -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def netloc(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.netloc}"

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        """``path`` on this server, under another host name if asked (see network.resolve)."""
        return f"http://{host}:{self.port}{path}"

    # --- what the tests read -------------------------------------------------------------------

    def requests(self, prefix: str = "") -> list[Hit]:
        with self._lock:
            return [h for h in self.hits if h.path.startswith(prefix)]

    def paths(self, prefix: str = "") -> list[str]:
        return [h.path for h in self.requests(prefix)]

    def peak_in_flight(self, host: str) -> int:
        with self._lock:
            return self._stats.peak.get(host, 0)

    def status_of(self, path: str) -> list[int | None]:
        return [h.status for h in self.requests() if h.path == path]

    def static(
        self, path: str, body: bytes, content_type: str, status: int = 200, **headers: str
    ) -> None:
        """Answer ``path`` with fixed bytes (a feed written by a test)."""
        extra = tuple((k.replace("_", "-"), v) for k, v in headers.items())
        self._static[path] = _Static(status, body, (("Content-Type", content_type), *extra))

    # --- life ----------------------------------------------------------------------------------

    def start(self) -> HostileServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _connected(self, client: object) -> None:
        with self._lock:
            self.connections.append((time.monotonic(), client))

    # --- answering -----------------------------------------------------------------------------

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        path = urlsplit(h.path).path
        host = h.headers.get("Host", "")
        hit = Hit(
            path, host, {k.lower(): v for k, v in h.headers.items()}, time.monotonic(), time.time()
        )
        with self._lock:
            n = self._counts[path] = self._counts.get(path, 0) + 1
            index = len(self.hits)
            self.hits.append(hit)
            flight = self._stats.in_flight[host] = self._stats.in_flight.get(host, 0) + 1
            self._stats.peak[host] = max(self._stats.peak.get(host, 0), flight)
        h.hit = (index, host)  # type: ignore[attr-defined]
        status: int | None = None
        try:
            status = self._dispatch(h, path, host, n)
        except (ConnectionError, TimeoutError, OSError):
            h.close_connection = True
        finally:
            self._answered(h, status)

    def _answered(self, h: BaseHTTPRequestHandler, status: int | None) -> None:
        """Record the answer and end the request's time in flight: called before the last bytes
        go out, so a client that has its answer never finds the request still counted."""
        index, host = h.__dict__.pop("hit", (None, ""))
        if index is None:
            return
        with self._lock:
            self._stats.in_flight[host] -= 1
            self.hits[index] = replace(self.hits[index], status=status)

    def _dispatch(self, h: BaseHTTPRequestHandler, path: str, host: str, n: int) -> int | None:
        if path in self._static:
            s = self._static[path]
            return self._send(h, s.status, s.body, *s.headers)
        if path == "/robots.txt":
            if host.startswith("slowrobots."):
                time.sleep(self.slow_seconds)
            status, text = self.robots.get(host.rsplit(":", 1)[0], (200, DEFAULT_ROBOTS))
            return self._send(h, status, text.encode(), ("Content-Type", "text/plain"))
        head, _, rest = path.lstrip("/").partition("/")
        if head in ("page", "private"):
            return self._html(h, article_html(rest.removesuffix(".html")))
        if head == "slow":
            time.sleep(self.slow_seconds)
            return self._html(h, article_html(rest.removesuffix(".html")))
        simple = {
            "/reset": self._reset,
            "/reset-mid": self._reset_mid,
            "/truncated": self._truncated,
            "/drip": self._drip,
            "/drip-headers": self._drip_headers,
            "/hang": self._hang,
            "/big/length": lambda h: self._big(h, "length"),
            "/big/chunked": lambda h: self._big(h, "chunked"),
            "/big/close": lambda h: self._big(h, "close"),
        }
        if path in simple:
            return simple[path](h)
        if path in ("/bomb.html", "/bomb2.html", "/bomb-deflate.html", "/feeds/bomb.xml"):
            body, encoding = {
                "/bomb.html": (gzip_bomb, "gzip"),
                "/bomb2.html": (double_gzip_bomb, "gzip, gzip"),
                "/bomb-deflate.html": (deflate_bomb, "deflate"),
                "/feeds/bomb.xml": (gzip_bomb, "gzip"),
            }[path]
            kind = "application/rss+xml" if path.endswith(".xml") else "text/html"
            return self._send(
                h, 200, body(), ("Content-Type", kind), ("Content-Encoding", encoding)
            )
        if path == "/corrupt-gzip.html":
            return self._send(
                h,
                200,
                b"\x1f\x8b\x08\x00" + b"not gzip at all" * 50,
                ("Content-Type", "text/html"),
                ("Content-Encoding", "gzip"),
            )
        if path == "/br.html":
            return self._send(
                h,
                200,
                bytes(range(256)) * 8,
                ("Content-Type", "text/html"),
                ("Content-Encoding", "br"),
            )
        redirects = {
            "/loop": "/loop",
            "/loop-a": "/loop-b",
            "/loop-b": "/loop-a",
            "/to-canary": self.canary.rstrip("/") + "/secret",
            "/to-metadata": "http://169.254.169.254/latest/meta-data/",
            "/to-evil": f"http://evil.test:{self.port}/page/evil.html",
            "/to-file": "file:///etc/passwd",
            "/to-ftp": f"ftp://127.0.0.1:{self.port}/x",
            "/to-creds": f"http://user:secret@{self.netloc}/page/creds.html",
            "/to-page": "/page/redirected.html",
            "/to-bad-location": "http://[::1/x",
        }
        if path in redirects:
            status = 301 if path == "/to-page" else 302
            return self._send(h, status, b"", ("Location", redirects[path]))
        if path == "/no-location":
            return self._html(h, article_html("no-location"), status=302)
        if head == "flaky":
            rng = random.Random(f"{self.seed}:{path}:{n}")
            if rng.random() < self.flaky_rate:
                return self._send(h, 500, b"<h1>oops</h1>", ("Content-Type", "text/html"))
            return self._html(h, article_html(f"flaky-{rest}"))
        if head == "retry":
            kind, seconds, _ = rest.split("/", 2)
            if kind == "429" and n == 1:
                return self._send(h, 429, b"slow down", ("Retry-After", seconds))
            if kind == "503-date" and n == 1:
                when = email.utils.formatdate(time.time() + int(seconds), usegmt=True)
                return self._send(h, 503, b"busy", ("Retry-After", when))
            if kind == "429-always":
                return self._send(h, 429, b"slow down", ("Retry-After", seconds))
            return self._html(h, article_html(f"retry-{rest.replace('/', '-')}"))
        if head == "bin":
            answers = {
                "png-as-html": (PNG, "text/html; charset=utf-8"),
                "png": (PNG, "image/png"),
                "pdf": (PDF, "application/pdf"),
                "octet": (PNG, "application/octet-stream"),
            }
            if rest in answers:
                blob, kind = answers[rest]
                return self._send(h, 200, blob, ("Content-Type", kind))
        if head == "enc":
            return self._encoded(h, rest)
        if head == "feeds":
            return self._feed(h, rest)
        return self._send(h, 404, b"<h1>Not Found</h1>", ("Content-Type", "text/html"))

    def _encoded(self, h: BaseHTTPRequestHandler, name: str) -> int | None:
        page = article_html(name, title="Zürich cafés", text=CAFE * 3)
        answers = {
            "cp1252-wrong.html": (page.encode("cp1252"), "text/html; charset=utf-8"),
            "cp1252-none.html": (page.encode("cp1252"), "text/html"),
            "latin1-utf8.html": (page.encode("utf-8"), "text/html; charset=iso-8859-1"),
            "cp1251.html": (
                article_html(name, title="Транспорт Москвы", text=RUSSIAN * 3)
                .replace("lang='en'", "lang='ru'")
                .encode("cp1251"),
                "text/html; charset=windows-1251",
            ),
        }
        if name not in answers:
            return self._send(h, 404, b"", ("Content-Type", "text/html"))
        body, kind = answers[name]
        return self._send(h, 200, body, ("Content-Type", kind))

    def _feed(self, h: BaseHTTPRequestHandler, name: str) -> int | None:
        if name == "laughs.xml":
            body = billion_laughs_feed(self.url("/page/laughs.html"))
            return self._send(h, 200, body, ("Content-Type", "application/rss+xml"))
        if name == "cp1251.xml":
            items = [("Новости: кафе", self.url(f"/enc/{p}")) for p in ENCODED_PAGES]
            body = rss(items, title="Новости", encoding="windows-1251")
            return self._send(h, 200, body, ("Content-Type", "application/rss+xml"))
        if name == "octet.xml":
            body = rss([("fine", self.url("/page/octet-feed.html"))])
            return self._send(h, 200, body, ("Content-Type", "application/octet-stream"))
        if name == "png.xml":
            return self._send(h, 200, PNG, ("Content-Type", "application/rss+xml"))
        return self._send(h, 404, b"", ("Content-Type", "text/html"))

    # --- the faults ----------------------------------------------------------------------------

    def _send(
        self, h: BaseHTTPRequestHandler, status: int, body: bytes, *headers: tuple[str, str]
    ) -> int:
        h.send_response(status)
        for k, v in headers:
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        self._answered(h, status)
        h.end_headers()
        h.wfile.write(body)
        return status

    def _html(self, h: BaseHTTPRequestHandler, page: str, status: int = 200) -> int:
        return self._send(h, status, page.encode(), ("Content-Type", "text/html; charset=utf-8"))

    @staticmethod
    def _rst(h: BaseHTTPRequestHandler) -> None:
        """Close with a TCP reset instead of a FIN."""
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.connection.close()
        h.close_connection = True

    def _reset(self, h: BaseHTTPRequestHandler) -> None:
        self._rst(h)

    def _reset_mid(self, h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", "20000")
        h.end_headers()
        h.wfile.write(b"<html><body>" + b"a" * 1000)
        h.wfile.flush()
        time.sleep(0.05)
        self._rst(h)

    def _truncated(self, h: BaseHTTPRequestHandler) -> int:
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", "20000")
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(b"<html><body>" + b"a" * 988)
        h.wfile.flush()
        h.close_connection = True
        return 200

    def _gone(self, h: BaseHTTPRequestHandler) -> bool:
        """True once the client has closed its end (or the server is stopping)."""
        if self._stop.is_set():
            return True
        readable, _, _ = select.select([h.connection], [], [], 0)
        if not readable:
            return False
        try:
            return h.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True

    def _drip_bytes(self, h: BaseHTTPRequestHandler, data: bytes, limit: float = 60.0) -> None:
        end = time.monotonic() + limit
        for b in data:
            if self._gone(h) or time.monotonic() > end:
                break
            h.wfile.write(bytes([b]))
            h.wfile.flush()
            self._stop.wait(1.0)
        h.close_connection = True

    def _drip(self, h: BaseHTTPRequestHandler) -> int:
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", "100000")
        h.end_headers()
        h.wfile.flush()
        self._drip_bytes(h, b"<html><body>" + b"drip " * 1000)
        return 200

    def _drip_headers(self, h: BaseHTTPRequestHandler) -> int:
        self._drip_bytes(h, b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Slow: " + b"z" * 200)
        return 200

    def _hang(self, h: BaseHTTPRequestHandler) -> None:
        end = time.monotonic() + 60
        while not self._gone(h) and time.monotonic() < end:
            self._stop.wait(0.1)
        h.close_connection = True

    def _big(self, h: BaseHTTPRequestHandler, how: str) -> int:
        piece = (b"<p>" + b"big page " * 7000 + b"</p>\n")[: 1 << 16]
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        if how == "length":
            h.send_header("Content-Length", str(BIG_BYTES))
        elif how == "chunked":
            h.send_header("Transfer-Encoding", "chunked")
        else:
            h.send_header("Connection", "close")
            h.close_connection = True
        h.end_headers()
        sent = 0
        while sent < BIG_BYTES and not self._stop.is_set():
            chunk = piece[: BIG_BYTES - sent]
            if how == "chunked":
                h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            else:
                h.wfile.write(chunk)
            sent += len(chunk)
        if how == "chunked":
            h.wfile.write(b"0\r\n\r\n")
        return 200
