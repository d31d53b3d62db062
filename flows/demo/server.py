"""A loopback HTTP server for the demo site and the tests: real bytes over real sockets.

It serves a folder, replacing ``{{BASE_URL}}`` in text files with its own address and
``{{DATE ...}}`` with a date relative to the day it serves (see :func:`render_dates`), and answers
conditional GETs (ETag / Last-Modified → 304) like a real web server. A few paths behave like the
faults real sites have:

- ``/go/<slug>``      301 → ``/articles/<slug>.html``
- ``/slow/<slug>``    ``/articles/<slug>.html`` after ``slow_seconds``
- ``/broken/...``     500
- anything missing    404

Tests add their own answers with :meth:`SiteServer.route` and read :attr:`SiteServer.requests`.
"""

from __future__ import annotations

import email.utils
import hashlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".xml": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".pdf": "application/pdf",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
}
_TEXT = {".html", ".xml", ".atom", ".txt", ".json"}

# {{DATE -7 15:30 rfc822}}: seven days before the day served, 15:30 UTC, as an RFC 822 date.
_DATE = re.compile(rb"\{\{DATE ([+-]?\d+)(?: (\d\d):(\d\d))? (iso|rfc822|dotted|long|ap)\}\}")
_AP_MONTHS = (
    "Jan.", "Feb.", "March", "April", "May", "June", "July", "Aug.", "Sept.", "Oct.", "Nov.", "Dec."
)  # fmt: skip


def format_date(when: datetime, style: str) -> str:
    """``when`` (UTC) written as the demo outlets write dates."""
    if style == "iso":
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    if style == "rfc822":
        return email.utils.format_datetime(when, usegmt=True)
    if style == "dotted":  # Baltic Wire: 06.11.2026 13:00 UTC
        return when.strftime("%d.%m.%Y %H:%M UTC")
    if style == "long":  # The Meridian Ledger: Tuesday 15 September 2026, 10:20 GMT
        return f"{when:%A} {when.day} {when:%B %Y, %H:%M} GMT"
    if style == "ap":  # Northgate Tribune: Sept. 9, 2026
        return f"{_AP_MONTHS[when.month - 1]} {when.day}, {when.year}"
    raise ValueError(f"unknown date style {style!r}")


def demo_instant(days: int, hour: int = 0, minute: int = 0, *, today: date) -> datetime:
    """The instant ``{{DATE days HH:MM ...}}`` stands for on ``today``."""
    return datetime(today.year, today.month, today.day, hour, minute, tzinfo=UTC) + timedelta(
        days=days
    )


def render_dates(body: bytes, today: date) -> bytes:
    """Replace every ``{{DATE <days> [HH:MM] <style>}}`` with that many days from ``today``
    (negative: before), at HH:MM UTC, in the style named: ``iso``, ``rfc822``, ``dotted``,
    ``long`` or ``ap``. The site's stories keep their spacing and order whatever the calendar
    says: the newest a day old, the oldest ten weeks."""

    def one(m: re.Match[bytes]) -> bytes:
        hour, minute = (int(m[2]), int(m[3])) if m[2] else (0, 0)
        when = demo_instant(int(m[1]), hour, minute, today=today)
        return format_date(when, m[4].decode()).encode()

    return _DATE.sub(one, body) if b"{{DATE" in body else body


def render(file: Path, base_url: str, today: date) -> bytes:
    """The bytes a server at ``base_url`` sends for ``file`` on ``today``: placeholders are
    filled in text files, other files go out as they are."""
    body = Path(file).read_bytes()
    if Path(file).suffix in _TEXT:
        body = render_dates(body.replace(b"{{BASE_URL}}", base_url.encode()), today)
    return body


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0  # seconds before the headers


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    status: int
    headers: dict[str, str]


Handler = Callable[[str, dict[str, str]], Answer]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up early (a capped or timed-out fetch) is not a server error.
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class SiteServer:
    """``with SiteServer(folder) as site: site.url("/feeds/x.xml")``"""

    def __init__(
        self,
        root: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        slow_seconds: float = 1.5,
        today: date | None = None,
    ) -> None:
        self.root = Path(root)
        self.slow_seconds = slow_seconds
        # the day the site's dates are relative to: fixed for the server's life, so a rerun
        # sees the same bytes (and ETags) as the run before
        self.today = today or datetime.now(UTC).date()
        self.requests: list[Request] = []
        self._routes: dict[str, Answer | Handler] = {}
        self._lock = threading.Lock()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # or keep-alive clients stall 40 ms per request
            protocol_version = "HTTP/1.1"
            server_version = "corpus-monitor-demo/1"

            def do_GET(self) -> None:
                server._serve(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = _QuietServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def route(self, path: str, answer: Answer | Handler) -> None:
        """Answer ``path`` (exact, without query) with a fixed Answer or a handler.

        A path ending in ``*`` matches every path with that prefix.
        """
        self._routes[path] = answer

    def paths(self, prefix: str = "") -> list[str]:
        with self._lock:
            return [r.path for r in self.requests if r.path.startswith(prefix)]

    def start(self) -> SiteServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> SiteServer:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def render(self, file: Path) -> bytes:
        """The bytes this server sends for ``file``."""
        return render(file, self.base_url, self.today)

    # --- answering ---------------------------------------------------------------------------

    def _answer(self, path: str, headers: dict[str, str]) -> Answer:
        route = self._routes.get(path)
        if route is None:
            route = next(
                (a for p, a in self._routes.items() if p.endswith("*") and path.startswith(p[:-1])),
                None,
            )
        if route is not None:
            return route if isinstance(route, Answer) else route(path, headers)
        if path.startswith("/go/"):
            return Answer(301, b"", (("Location", f"/articles/{path[4:]}.html"),))
        if path.startswith("/broken/"):
            return Answer(500, b"<h1>Internal Server Error</h1>", (("Content-Type", "text/html"),))
        delay = 0.0
        if path.startswith("/slow/"):
            path, delay = f"/articles/{path[6:]}.html", self.slow_seconds
        return self._file(path, headers, delay)

    def _file(self, path: str, headers: dict[str, str], delay: float) -> Answer:
        rel = path.lstrip("/") or "index.html"
        file = (self.root / rel).resolve()
        if self.root.resolve() not in file.parents or not file.is_file():
            return Answer(404, b"<h1>Not Found</h1>", (("Content-Type", "text/html"),))
        body = self.render(file)
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        mtime = int(file.stat().st_mtime)
        last_modified = email.utils.formatdate(mtime, usegmt=True)
        meta = (
            ("ETag", etag),
            ("Last-Modified", last_modified),
            ("Content-Type", _TYPES.get(file.suffix, "application/octet-stream")),
        )
        inm = headers.get("if-none-match")
        ims = headers.get("if-modified-since")
        if inm is not None:
            not_modified = etag in [t.strip() for t in inm.split(",")]
        elif ims is not None:
            parsed = email.utils.parsedate_to_datetime(ims)
            not_modified = parsed is not None and mtime <= parsed.timestamp()
        else:
            not_modified = False
        if not_modified:
            return Answer(304, b"", meta[:2], delay)
        return Answer(200, body, meta, delay)

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        path = urlsplit(h.path).path
        headers = {k.lower(): v for k, v in h.headers.items()}
        answer = self._answer(path, headers)
        with self._lock:
            self.requests.append(Request("GET", path, answer.status, headers))
        if answer.delay:
            time.sleep(answer.delay)
        try:
            h.send_response(answer.status)
            names = {k.lower() for k, _ in answer.headers}
            for k, v in answer.headers:
                h.send_header(k, v)
            if "content-length" not in names:
                h.send_header("Content-Length", str(len(answer.body)))
            h.end_headers()
            if answer.status != 304:
                h.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            pass
