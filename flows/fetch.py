"""The one HTTP client: address checks, byte caps, timeouts, redirects and per-host politeness.

Every network read in corpus-monitor goes through :class:`Fetcher`, so the safety rules hold
everywhere: only http(s); hosts that resolve to private, loopback, link-local or reserved
addresses are refused unless ``network.allow_private_addresses``; redirects are followed by hand
(each hop is checked again) up to ``network.max_redirects``; a body larger than the cap is cut
off while streaming (after decompression); every request has a total deadline.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urljoin, urlsplit

import httpx

from flows.config import NetworkSettings
from flows.errors import FetchError

_REDIRECTS = {301, 302, 303, 307, 308}
_HTML_TYPES = ("text/html", "application/xhtml+xml")

Expect = Literal["html", "feed", "any"]


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


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            return _is_public(mapped)
    return ip.is_global and not ip.is_multicast


class Fetcher:
    """An async HTTP client bound to the network settings. Use as ``async with Fetcher(net):``."""

    def __init__(self, net: NetworkSettings) -> None:
        self.net = net
        self._client: httpx.AsyncClient | None = None
        self._all = asyncio.Semaphore(net.concurrency)
        self._hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(net.per_host_concurrency)
        )
        self.requests = 0

    async def __aenter__(self) -> Fetcher:
        t = self.net.timeout_seconds
        self._client = httpx.AsyncClient(
            headers={"User-Agent": self.net.user_agent, "Accept-Encoding": "gzip, deflate"},
            timeout=httpx.Timeout(t, connect=min(t, 10.0)),
            follow_redirects=False,
            trust_env=False,  # proxies would hide the address we check
            limits=httpx.Limits(max_connections=self.net.concurrency * 2),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def check_url(self, url: str) -> None:
        """Refuse non-http(s) URLs, credentials, and (unless allowed) non-public addresses."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as e:
            raise FetchError("bad_url", f"{url}: {e}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError("bad_url", f"{url}: only http(s) URLs with a host are fetched")
        if parts.username or parts.password:
            raise FetchError("bad_url", f"{url}: URLs with credentials are refused")
        if self.net.allow_private_addresses:
            return
        host = parts.hostname
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
            )
        except socket.gaierror as e:
            raise FetchError("dns", f"{host}: {e.strerror or e}") from None
        for info in infos:
            ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
            if not _is_public(ip):
                raise FetchError(
                    "blocked_address",
                    f"{host} resolves to {ip}, a non-public address "
                    "(set network.allow_private_addresses = true to allow)",
                )

    async def get(
        self,
        url: str,
        *,
        expect: Expect = "any",
        max_bytes: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """GET ``url`` following redirects; raise :class:`FetchError` with a documented reason.

        A 304 is returned (not raised) so that conditional requests can be answered.
        """
        cap = max_bytes or self.net.max_page_bytes
        host = urlsplit(url).hostname or ""
        started = time.monotonic()
        async with self._all, self._hosts[host]:
            try:
                async with asyncio.timeout(self.net.timeout_seconds):
                    resp = await self._get(url, expect, cap, headers or {})
            except TimeoutError:
                raise FetchError(
                    "timeout", f"{url}: no complete answer in {self.net.timeout_seconds:g}s"
                ) from None
        resp.elapsed = time.monotonic() - started
        return resp

    async def _get(self, url: str, expect: Expect, cap: int, headers: dict[str, str]) -> Response:
        assert self._client is not None, "use Fetcher as an async context manager"
        redirects: list[str] = []
        current = url
        while True:
            await self.check_url(current)
            self.requests += 1
            try:
                async with self._client.stream("GET", current, headers=headers) as r:
                    if r.status_code in _REDIRECTS and "location" in r.headers:
                        if len(redirects) >= self.net.max_redirects:
                            raise FetchError(
                                "too_many_redirects",
                                f"{url}: more than {self.net.max_redirects} redirects",
                            )
                        redirects.append(current)
                        current = urljoin(current, r.headers["location"])
                        continue
                    out = Response(
                        url=current,
                        status=r.status_code,
                        headers={k.lower(): v for k, v in r.headers.items()},
                        redirects=redirects,
                    )
                    if r.status_code == 304:
                        return out
                    if r.status_code >= 400:
                        raise FetchError(
                            f"http_{r.status_code}", f"{current}: {r.reason_phrase}".strip()
                        )
                    if expect == "html" and not _looks_html(out.content_type):
                        raise FetchError(
                            "not_html", f"{current}: content type {out.content_type or 'unknown'}"
                        )
                    declared = r.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > cap:
                        raise FetchError(
                            "too_large", f"{current}: {declared} bytes declared, cap is {cap}"
                        )
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in r.aiter_bytes():  # decompressed bytes
                        size += len(chunk)
                        if size > cap:
                            raise FetchError(
                                "too_large", f"{current}: more than {cap} bytes (cut off)"
                            )
                        chunks.append(chunk)
                    out.body = b"".join(chunks)
                    if (
                        expect == "html"
                        and out.content_type not in _HTML_TYPES
                        and not _sniff_html(out.body)
                    ):
                        raise FetchError(
                            "not_html",
                            f"{current}: served as {out.content_type or 'no type'}, not HTML",
                        )
                    return out
            except httpx.TimeoutException:
                raise FetchError("timeout", f"{current}: timed out") from None
            except httpx.ConnectError as e:
                cause = e.__cause__ or e.__context__
                while cause is not None and not isinstance(cause, socket.gaierror):
                    cause = cause.__cause__ or cause.__context__
                if isinstance(cause, socket.gaierror):
                    raise FetchError("dns", f"{current}: {cause}") from None
                raise FetchError("refused", f"{current}: {e}") from None
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as e:
                raise FetchError("refused", f"{current}: connection broken: {e}") from None
            except httpx.HTTPError as e:
                raise FetchError("network", f"{current}: {e}") from None


def _looks_html(content_type: str) -> bool:
    # No type, or text/plain (often mislabelled HTML), is sniffed after reading; any other
    # declared non-HTML type is refused before its body is downloaded.
    return not content_type or content_type in _HTML_TYPES or content_type == "text/plain"


def _sniff_html(body: bytes) -> bool:
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<!--", b"<meta"))
