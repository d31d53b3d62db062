"""URL canonicalisation: one article, one URL, whatever tracking a feed adds."""

from __future__ import annotations

import hashlib
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters that identify a campaign or a click, never the document.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "ref",
        "ref_src",
        "ref_url",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "cmpid",
        "ocid",
        "ncid",
        "sr_share",
        "spm",
        "guccounter",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "piwik_", "mtm_", "at_")

# Ports a URL may leave out; canonical URLs leave them out.
DEFAULT_PORTS = {"http": 80, "https": 443}


def is_tracking_param(name: str) -> bool:
    lower = name.lower()
    return lower in TRACKING_PARAMS or lower.startswith(TRACKING_PREFIXES)


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, drop the fragment, default ports and tracking parameters.

    The path and the remaining query keep their case and order: they may matter to the server.
    A URL without a host or that cannot be parsed (a port out of range, an unclosed ``[``) comes
    back as written, less its fragment: one bad link must not fail a whole feed, fetching it
    reports bad_url, and ``https:////x`` does not turn into ``https://x``.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        if parts.hostname:
            return _canonical(parts)
    except ValueError:
        pass
    return text.partition("#")[0].strip()


def _canonical(parts: SplitResult) -> str:
    scheme = parts.scheme.lower()
    hostname = parts.hostname or ""
    # An IPv6 literal is lower-cased by urlsplit already, and a zone id keeps its case.
    host = f"[{hostname}]" if ":" in hostname else hostname.lower().rstrip(".")
    # The default port goes for IPv6 literals too: https://[::1]:443/ is https://[::1]/.
    if parts.port is not None and DEFAULT_PORTS.get(scheme) != parts.port:
        host = f"{host}:{parts.port}"
    # Percent-escapes that are not UTF-8 (a Latin-1 or cp1251 site's ?q=%E9) keep their bytes:
    # decoding them to U+FFFD would give different articles one URL and one id.
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True, errors="surrogateescape")
            if not is_tracking_param(k)
        ],
        doseq=True,
        errors="surrogateescape",
    )
    path = parts.path or "/"
    return urlunsplit((scheme, host, path, query, ""))


def article_id(url: str) -> str:
    """A stable id for a canonical URL: the same article gets the same id in every run."""
    return hashlib.blake2b(url.encode("utf-8"), digest_size=8).hexdigest()


def source_of(url: str) -> str:
    """The host of a URL without ``www.``: what analytics call a source."""
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")
