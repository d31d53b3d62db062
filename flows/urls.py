"""URL canonicalisation: one article, one URL, whatever tracking a feed adds."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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


def is_tracking_param(name: str) -> bool:
    lower = name.lower()
    return lower in TRACKING_PARAMS or lower.startswith(TRACKING_PREFIXES)


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, drop the fragment, default ports and tracking parameters.

    The path and the remaining query keep their case and order: they may matter to the server.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.port is not None and not (
        (scheme == "http" and parts.port == 80) or (scheme == "https" and parts.port == 443)
    ):
        host = f"{host}:{parts.port}"
    if ":" in (parts.hostname or "") and not host.startswith("["):  # IPv6 literal
        host = f"[{parts.hostname}]" + (f":{parts.port}" if parts.port else "")
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not is_tracking_param(k)
        ],
        doseq=True,
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
