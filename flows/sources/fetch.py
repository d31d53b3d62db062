"""The one HTTP client: address checks, byte caps, timeouts, redirects and politeness.

Every network read in corpus-monitor goes through :class:`Fetcher`, so the safety rules hold
everywhere:

- only http(s) URLs without credentials;
- every address is checked when the connection is made, after name resolution (a public name
  that resolves to 127.0.0.1 is caught; so is every redirect hop): loopback, private,
  link-local (169.254.169.254 included), multicast, reserved and unspecified addresses and
  their IPv6 forms are refused unless ``network.allow_private_addresses`` or the URL's
  ``host:port`` is in ``network.allowed_hosts``; ``network.resolve`` replaces DNS for listed
  names;
- redirects are followed by hand up to ``network.max_redirects``;
- a body larger than the cap is cut off while streaming, counted on the wire and after
  decompression; gzip and deflate are inflated here, a bounded piece at a time, so a gzip bomb
  (one or several layers deep) stops at the cap and memory stays bounded; an encoding that
  was not asked for (br, zstd, ...) is refused; connect, read and total time limits;
- a page or feed whose bytes are an image, a PDF, an archive or other binary is refused
  whatever its declared type;
- per host: at most ``per_host_concurrency`` requests in flight and ``per_host_delay_seconds``
  between two of them (longer when robots.txt asks for a Crawl-delay); ``Retry-After`` on 429 and
  503 is waited out (by every request to that host) up to ``max_retry_after_seconds``, a longer
  one stops requests to that host until then; robots.txt is obeyed for article pages.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpcore
import httpx

from flows.config import NetworkSettings
from flows.errors import FetchError

_REDIRECTS = {301, 302, 303, 307, 308}
_HTML_TYPES = ("text/html", "application/xhtml+xml")
# Declared types that are never a feed: refused before the body is downloaded.
_NOT_FEED_PREFIXES = ("image/", "audio/", "video/", "font/")
_NOT_FEED_TYPES = (
    "application/pdf",
    "application/zip",
    "application/gzip",
    "application/octet-stream",
)
ROBOTS_MAX_BYTES = 512_000  # RFC 9309: parse at least the first 500 KiB
ROBOTS_TTL = 3600.0  # seconds a host's robots.txt is reused
ROBOTS_RETRY = 60.0  # ... and an unreachable one is tried again after
MAX_CRAWL_DELAY = 60.0  # a longer Crawl-delay is capped here
ROBOTS_AGENT = "corpus-monitor"  # the product token matched against robots.txt groups
PIECE = 1 << 16  # most bytes one decompression step may produce
# Leading bytes of formats that are never a page or a feed, whatever the Content-Type says.
_BINARY_MAGIC = (
    b"\x89PNG",
    b"GIF87a",
    b"GIF89a",
    b"\xff\xd8\xff",  # JPEG
    b"%PDF-",
    b"PK\x03\x04",  # zip, docx, epub
    b"\x1f\x8b",  # gzip
    b"BZh",
    b"\xfd7zXZ\x00",
    b"7z\xbc\xaf\x27\x1c",
    b"Rar!\x1a\x07",
    b"RIFF",  # webp, wav, avi
    b"OggS",
    b"fLaC",
    b"ID3",  # mp3
    b"\x00asm",  # WebAssembly
    b"\x7fELF",
    b"\x00\x00\x01\x00",  # ico
    b"wOFF",
    b"wOF2",
)

Expect = Literal["html", "feed", "any"]
IP = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass
class Response:
    """A complete response: the URL it came from after redirects, headers and the capped body."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes = b""
    redirects: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def charset(self) -> str | None:
        for part in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip("\"' ").lower()
        return None


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Never globally routable, whatever the running Python's tables say: IPv4-compatible and
# IPv4-translated forms, local-use NAT64 (RFC 8215), site-local (deprecated), documentation.
_NOT_PUBLIC_V6 = tuple(
    ipaddress.ip_network(n)
    for n in (
        "::/96",
        "::ffff:0:0:0/96",
        "64:ff9b:1::/48",
        "fec0::/10",
        "2001:db8::/32",
        "3fff::/20",
    )
)


def is_public(ip: IP) -> bool:
    """A globally routable unicast address; IPv6 forms that embed an IPv4 address (mapped,
    6to4, Teredo, NAT64) are judged by that address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return is_public(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            return is_public(ip.sixtofour)
        if ip.teredo is not None:
            return is_public(ip.teredo[0]) and is_public(ip.teredo[1])
        if ip in _NAT64:
            return is_public(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if any(ip in n for n in _NOT_PUBLIC_V6):
            return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved)


def host_port(host: str, port: int | None, scheme: str = "http") -> tuple[str, str]:
    """``(host, host:port)`` as a URL writes them (IPv6 in brackets, lower case)."""
    host = host.lower().rstrip(".")
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    port = port or (443 if scheme == "https" else 80)
    return shown, f"{shown}:{port}"


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves names itself (``network.resolve`` first, then DNS) and connects only to
    addresses that pass the check: the check and the connection use the same address, so a
    name cannot resolve to a public address for the check and a private one for the connect."""

    def __init__(self, net: NetworkSettings) -> None:
        self.net = net
        self._inner = httpcore.AnyIOBackend()
        self.refused: list[tuple[str, str]] = []  # (host:port, address) never connected to
        self.connected: list[tuple[str, int]] = []  # (address, port) connections were opened to

    def exempt(self, host: str, port: int) -> bool:
        if self.net.allow_private_addresses:
            return True
        shown, with_port = host_port(host, port)
        allowed = self.net.allowed_hosts
        return shown in allowed or with_port in allowed

    async def addresses(self, host: str, port: int) -> list[str]:
        name = host.lower().rstrip(".")
        if name in self.net.resolve:
            return [self.net.resolve[name]]
        try:
            return [str(ipaddress.ip_address(name.strip("[]")))]
        except ValueError:
            pass
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                name, port, type=socket.SOCK_STREAM
            )
        except socket.gaierror as e:
            raise FetchError("dns", f"{host}: {e.strerror or e}") from None
        except UnicodeError as e:  # a label too long or empty for the IDNA codec
            raise FetchError("bad_url", f"{host}: not a valid host name ({e})") from None
        out: list[str] = []
        for info in infos:
            addr = str(info[4][0]).split("%")[0]
            if addr not in out:
                out.append(addr)
        return out

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addrs = await self.addresses(host, port)
        if not self.exempt(host, port):
            bad = [a for a in addrs if not is_public(ipaddress.ip_address(a))]
            for a in bad:
                self.refused.append((host_port(host, port)[1], a))
            if bad:  # one private answer is enough to refuse: the name is not trustworthy
                raise FetchError(
                    "blocked_address",
                    f"{host} resolves to {bad[0]}, a non-public address (allow it with "
                    "network.allowed_hosts or network.allow_private_addresses)",
                )
        error: Exception | None = None
        for addr in addrs:
            self.connected.append((addr, port))
            try:
                return await self._inner.connect_tcp(
                    addr,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                error = e
        assert error is not None
        raise error

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise FetchError("bad_url", "unix sockets are not fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; None if absent or
    unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass
class _Robots:
    parser: RobotFileParser | None  # None: everything allowed
    fetched: float
    unavailable: FetchError | None = None  # why robots.txt could not be read (5xx, network)

    def fresh(self) -> bool:
        ttl = ROBOTS_RETRY if self.unavailable is not None else ROBOTS_TTL
        return time.monotonic() - self.fetched < ttl

    def delay(self) -> float | None:
        if self.parser is None:
            return None
        d = self.parser.crawl_delay(ROBOTS_AGENT)
        return min(float(d), MAX_CRAWL_DELAY) if d else None


# robots.txt per origin, shared by every Fetcher of the process (a run makes one per batch, and
# batches are fetched in several threads at once): one request per origin, whoever asks first.
_ROBOTS: dict[str, _Robots] = {}
_ROBOTS_LOCKS: dict[str, threading.Lock] = {}


_SSL: ssl.SSLContext | None = None


def _ssl_context() -> ssl.SSLContext:
    """One TLS context per process: building one (loading the CA bundle) costs ~15 ms, and a
    run polls each feed with a Fetcher of its own."""
    global _SSL
    if _SSL is None:
        _SSL = httpx.create_ssl_context()
    return _SSL


class Fetcher:
    """An async HTTP client bound to the network settings. Use as ``async with Fetcher(net):``."""

    def __init__(self, net: NetworkSettings) -> None:
        self.net = net
        self._client: httpx.AsyncClient | None = None
        self._backend = _GuardedBackend(net)
        self._all = asyncio.Semaphore(net.concurrency)
        self._hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(net.per_host_concurrency)
        )
        self._slot_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._robot_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._next_slot: dict[str, float] = {}
        self._blocked: dict[str, float] = {}  # host -> monotonic time it asked us to wait until
        self._delays: dict[str, float] = {}  # host -> Crawl-delay from robots.txt
        self.requests = 0
        self.waited = 0.0  # seconds spent in politeness delays and Retry-After waits

    @property
    def refused(self) -> list[tuple[str, str]]:
        """(host:port, address) pairs refused at connect time: never connected to."""
        return self._backend.refused

    @property
    def connected(self) -> list[tuple[str, int]]:
        """(address, port) of every connection attempt that passed the address check."""
        return self._backend.connected

    async def __aenter__(self) -> Fetcher:
        net = self.net
        transport = httpx.AsyncHTTPTransport(verify=_ssl_context(), trust_env=False)
        # the same pool httpx builds, with the guarded network backend
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=transport._pool._ssl_context,
            max_connections=net.concurrency * 2,
            max_keepalive_connections=net.concurrency,
            network_backend=self._backend,
        )
        self._client = httpx.AsyncClient(
            headers={"User-Agent": net.agent, "Accept-Encoding": "gzip, deflate"},
            timeout=httpx.Timeout(
                net.timeout_seconds,
                connect=min(net.connect_timeout_seconds, net.timeout_seconds),
                read=min(net.read_timeout_seconds, net.timeout_seconds),
            ),
            follow_redirects=False,
            trust_env=False,  # a proxy would hide the address we check
            transport=transport,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()

    @staticmethod
    def check_url(url: str) -> None:
        """Refuse URLs that are not http(s) with a host, URLs with credentials, and URLs the
        HTTP client cannot send (control characters, invalid international host names)."""
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError as e:
            raise FetchError("bad_url", f"{url}: {e}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError("bad_url", f"{url}: only http(s) URLs with a host are fetched")
        if parts.username is not None or parts.password is not None:
            raise FetchError("bad_url", f"{url}: URLs with credentials are refused")
        if len(parts.hostname) > 253 or any(len(x) > 63 for x in parts.hostname.split(".")):
            raise FetchError("bad_url", f"{url}: the host name is longer than DNS allows")
        try:
            httpx.URL(url).host  # noqa: B018 - decoding an xn-- label can fail
        except (httpx.InvalidURL, ValueError) as e:  # idna errors are ValueErrors
            raise FetchError("bad_url", f"{url!r}: {e}") from None

    async def get(
        self,
        url: str,
        *,
        expect: Expect = "any",
        max_bytes: int | None = None,
        headers: dict[str, str] | None = None,
        robots: bool = False,
    ) -> Response:
        """GET ``url`` following redirects; raise :class:`FetchError` with a documented reason.

        A 304 is returned (not raised) so that conditional requests can be answered. With
        ``robots``, each hop is checked against its host's robots.txt first.
        """
        self.check_url(url)
        cap = max_bytes or self.net.max_page_bytes
        host = urlsplit(url).hostname or ""
        started = time.monotonic()
        async with self._hosts[host]:
            resp = await self._get(url, expect, cap, headers or {}, robots and self.net.robots_txt)
        resp.elapsed = time.monotonic() - started
        return resp

    async def _polite(self, host: str) -> None:
        """Wait for the host's next slot: the per-host delay (or its Crawl-delay) since the last
        request, and any Retry-After it asked for."""
        if (until := self._blocked.get(host)) is not None and until > time.monotonic():
            raise FetchError(
                "rate_limited",
                f"{host} asked to wait {until - time.monotonic():.0f}s more (Retry-After)",
            )
        delay = max(self.net.per_host_delay_seconds, self._delays.get(host, 0.0))
        async with self._slot_locks[host]:
            now = time.monotonic()
            wait = self._next_slot.get(host, 0.0) - now
            if wait > 0:
                self.waited += wait
                await asyncio.sleep(wait)
            self._next_slot[host] = max(now, self._next_slot.get(host, 0.0)) + delay

    async def _get(
        self, url: str, expect: Expect, cap: int, headers: dict[str, str], robots: bool
    ) -> Response:
        redirects: list[str] = []
        current = url
        retries = 0
        while True:
            self.check_url(current)
            host = urlsplit(current).hostname or ""
            if robots:
                await self._check_robots(current)
            await self._polite(host)
            async with self._all:
                try:
                    async with asyncio.timeout(self.net.timeout_seconds):
                        resp, location = await self._once(current, expect, cap, headers)
                except TimeoutError:
                    raise FetchError(
                        "timeout",
                        f"{current}: no complete answer in {self.net.timeout_seconds:g}s",
                    ) from None
            if location is not None:
                if len(redirects) >= self.net.max_redirects:
                    raise FetchError(
                        "too_many_redirects", f"{url}: more than {self.net.max_redirects} redirects"
                    )
                redirects.append(current)
                current = location
                continue
            if resp.status in (429, 503):
                wait = retry_after_seconds(resp.headers.get("retry-after"))
                if wait is not None and wait <= self.net.max_retry_after_seconds:
                    # every request to the host waits, not only this one
                    self._next_slot[host] = max(
                        self._next_slot.get(host, 0.0), time.monotonic() + wait
                    )
                    if retries < 2:
                        retries += 1
                        continue
                elif wait is not None:
                    self._blocked[host] = time.monotonic() + wait
                raise FetchError(
                    f"http_{resp.status}",
                    f"{current}: {resp.headers.get(':reason', '')}".strip()
                    + (f" (Retry-After {wait:.0f}s)" if wait is not None else ""),
                    retry_after=wait,
                )
            if resp.status >= 400 or (300 <= resp.status < 400 and resp.status != 304):
                # a 3xx here has no Location: there is nothing to follow and no page
                raise FetchError(f"http_{resp.status}", f"{current}: {resp.headers[':reason']}")
            resp.redirects = redirects
            return resp

    async def _once(
        self, url: str, expect: Expect, cap: int, headers: dict[str, str]
    ) -> tuple[Response, str | None]:
        """One request: (the response, None) or (a bodiless response, the redirect target)."""
        assert self._client is not None, "use Fetcher as an async context manager"
        self.requests += 1
        try:
            async with self._client.stream("GET", url, headers=headers) as r:
                out = Response(
                    url=url,
                    status=r.status_code,
                    headers={k.lower(): v for k, v in r.headers.items()}
                    | {":reason": r.reason_phrase},
                )
                if r.status_code in _REDIRECTS and "location" in r.headers:
                    try:
                        return out, urljoin(url, r.headers["location"])
                    except ValueError as e:  # an unclosed [ in the host, ...
                        raise FetchError(
                            "bad_url", f"{url}: redirect to {r.headers['location']!r}: {e}"
                        ) from None
                if r.status_code == 304 or r.status_code >= 300:
                    return out, None
                _refuse_type(url, expect, out.content_type)
                declared = r.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > cap:
                    raise FetchError("too_large", f"{url}: {declared} bytes declared, cap is {cap}")
                out.body = await _read_capped(url, r, cap)
                _refuse_binary(url, expect, out)
                if (
                    expect == "html"
                    and out.content_type not in _HTML_TYPES
                    and not _sniff_html(out.body)
                ):
                    raise FetchError(
                        "not_html", f"{url}: served as {out.content_type or 'no type'}, not HTML"
                    )
                return out, None
        except httpx.TimeoutException as e:
            kind = {
                httpx.ConnectTimeout: "connect",
                httpx.ReadTimeout: "read",
                httpx.WriteTimeout: "write",
                httpx.PoolTimeout: "pool",
            }.get(type(e), "")
            raise FetchError("timeout", f"{url}: {kind} timeout".replace(":  ", ": ")) from None
        except httpx.ConnectError as e:
            raise FetchError("refused", f"{url}: {e}") from None
        except httpx.InvalidURL as e:
            raise FetchError("bad_url", f"{url!r}: {e}") from None
        except httpx.RemoteProtocolError as e:
            if "location header" in str(e):  # httpx reads Location before we see the response
                raise FetchError("bad_url", f"{url}: redirect to an unusable URL: {e}") from None
            raise FetchError("refused", f"{url}: connection broken: {_say(e)}") from None
        except (httpx.ReadError, httpx.WriteError) as e:
            raise FetchError("refused", f"{url}: connection broken: {_say(e)}") from None
        except httpx.HTTPError as e:
            raise FetchError("network", f"{url}: {e}") from None

    async def _check_robots(self, url: str) -> None:
        """Raise robots_disallowed (or robots_unavailable when robots.txt answers 5xx or cannot
        be reached: RFC 9309 says to assume a complete disallow then)."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc.lower()}"
        entry = _ROBOTS.get(origin)
        if entry is None or not entry.fresh():
            async with self._robot_locks[origin]:  # this event loop's requests wait here
                lock = _ROBOTS_LOCKS.setdefault(origin, threading.Lock())  # other threads' here
                # polled, not awaited in a thread: a cancelled wait then never takes the lock
                while not lock.acquire(blocking=False):
                    await asyncio.sleep(0.01)
                try:
                    entry = _ROBOTS.get(origin)
                    if entry is None or not entry.fresh():
                        entry = await self._fetch_robots(origin)
                        _ROBOTS[origin] = entry
                finally:
                    lock.release()
        if (e := entry.unavailable) is not None:
            if e.reason.startswith("http_5"):
                raise FetchError(
                    "robots_unavailable", f"{origin}/robots.txt: {e.reason}", stage="robots"
                )
            # the host cannot be reached at all: the page fails for the same reason
            raise FetchError(e.reason, f"{e.detail} (fetching robots.txt)")
        if (delay := entry.delay()) is not None:
            self._delays[parts.hostname or ""] = delay
        if entry.parser is not None and not entry.parser.can_fetch(ROBOTS_AGENT, url):
            raise FetchError(
                "robots_disallowed", f"{url}: forbidden by {origin}/robots.txt", stage="robots"
            )

    async def _fetch_robots(self, origin: str) -> _Robots:
        try:
            resp = await self._get(f"{origin}/robots.txt", "any", ROBOTS_MAX_BYTES, {}, False)
        except FetchError as e:
            if e.reason.startswith("http_4") or e.reason in ("too_large", "bad_encoding"):
                return _Robots(None, time.monotonic())  # no usable robots.txt: all allowed
            return _Robots(None, time.monotonic(), unavailable=e)
        parser = RobotFileParser()
        parser.parse(resp.body.decode("utf-8", errors="replace").splitlines())
        return _Robots(parser, time.monotonic())


def _say(e: Exception) -> str:
    """An exception's message, or its class name when it has none (a reset connection)."""
    return str(e) or type(e).__name__


def _refuse_type(url: str, expect: Expect, content_type: str) -> None:
    """Refuse a declared type that cannot be what was asked for, before its body is read."""
    if expect == "html" and not _looks_html(content_type):
        raise FetchError("not_html", f"{url}: content type {content_type or 'unknown'}")
    if expect == "feed" and (
        content_type.startswith(_NOT_FEED_PREFIXES) or content_type in _NOT_FEED_TYPES
    ):
        raise FetchError("not_a_feed", f"{url}: content type {content_type}")


def _looks_html(content_type: str) -> bool:
    # No type, or text/plain (often mislabelled HTML), is sniffed after reading; any other
    # declared non-HTML type is refused before its body is downloaded.
    return not content_type or content_type in _HTML_TYPES or content_type == "text/plain"


def _sniff_html(body: bytes) -> bool:
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<!--", b"<meta"))


class _Inflate:
    """One gzip or deflate layer, inflated at most PIECE bytes per step: the memory a response
    takes is bounded by the cap whatever the compression ratio. Bytes after the end of the
    compressed stream are ignored."""

    def __init__(self, encoding: str) -> None:
        self.gzip = encoding in ("gzip", "x-gzip")
        self._d: Any = None  # zlib decompressobj, made when the first bytes show the format
        self._head = b""
        self._done = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._done:
            return
        if self._d is None:
            data = self._head + data
            if not self.gzip and len(data) < 2:
                self._head = data
                return
            self._head = b""
            self._d = zlib.decompressobj(_wbits(self.gzip, data))
        while data:
            out = self._d.decompress(data, PIECE)
            data = self._d.unconsumed_tail
            if out:
                yield out
            if self._d.eof:
                self._done = True
                return
        while True:  # the input is used up; drain what zlib still holds, a piece at a time
            out = self._d.decompress(b"", PIECE)
            if not out:
                return
            yield out


def _wbits(gzip: bool, head: bytes) -> int:
    if gzip:
        return zlib.MAX_WBITS | 16
    # "deflate" is meant to be zlib-wrapped (RFC 9110) but is often sent raw
    wrapped = head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0
    return zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS


class _Decoder:
    """The Content-Encoding layers of a body, undone in reverse order of application."""

    def __init__(self, url: str, header: str) -> None:
        names = [v.strip().lower() for v in header.split(",") if v.strip()]
        self.layers: list[_Inflate] = []
        for name in reversed(names):
            if name == "identity":
                continue
            if name not in ("gzip", "x-gzip", "deflate"):
                raise FetchError(
                    "bad_encoding", f"{url}: content encoding {name!r} was not asked for"
                )
            self.layers.append(_Inflate(name))

    def feed(self, data: bytes, layer: int = 0) -> Iterator[bytes]:
        if layer == len(self.layers):
            if data:
                yield data
            return
        for piece in self.layers[layer].feed(data):
            yield from self.feed(piece, layer + 1)


async def _read_capped(url: str, r: httpx.Response, cap: int) -> bytes:
    """The decoded body, or too_large as soon as the bytes on the wire or the decoded bytes
    pass ``cap``; never more than ``cap`` + PIECE bytes are held."""
    decoder = _Decoder(url, r.headers.get("content-encoding", ""))
    chunks: list[bytes] = []
    wire = size = 0
    async for chunk in r.aiter_raw():  # as sent, before content decoding
        wire += len(chunk)
        if wire > cap:
            raise FetchError("too_large", f"{url}: more than {cap} bytes sent (cut off)")
        try:
            for piece in decoder.feed(chunk):
                size += len(piece)
                if size > cap:
                    raise FetchError(
                        "too_large", f"{url}: more than {cap} bytes after decompression (cut off)"
                    )
                chunks.append(piece)
        except zlib.error as e:
            raise FetchError(
                "bad_encoding", f"{url}: the compressed body is corrupt: {e}"
            ) from None
    return b"".join(chunks)


def _refuse_binary(url: str, expect: Expect, resp: Response) -> None:
    """Refuse a page or feed whose bytes are a binary format, whatever its declared type."""
    if expect == "any":
        return
    head = resp.body[:1024]
    binary = head.startswith(_BINARY_MAGIC) or head[4:8] == b"ftyp"  # mp4, heic
    if not binary and expect == "html" and b"\x00" in head:
        # NUL bytes: binary, unless the text is UTF-16/32 (a BOM or a declared charset)
        wide = head.startswith((b"\xff\xfe", b"\xfe\xff")) or (resp.charset or "").startswith(
            ("utf-16", "utf-32")
        )
        binary = not wide
    if binary:
        kind = "not_html" if expect == "html" else "not_a_feed"
        raise FetchError(
            kind, f"{url}: the body is binary (served as {resp.content_type or 'no type'})"
        )
