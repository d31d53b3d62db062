"""OPML import and export: the subscription lists of Feedly, Inoreader, Miniflux, NetNewsWire.

A folder (an ``<outline>`` with children and no feed URL) becomes a feed group; nested folders
are joined with " / " (``News / Europe``), and an export nests them again. What real exports do
is read: ``xmlUrl`` in any letter case or ``url`` (with ``type="rss"``/``atom``), ``feed://``
URLs, HTML entities such as ``&eacute;`` or ``&nbsp;`` (not XML, but common), double-escaped
``&amp;amp;``, missing titles, the same feed listed twice. A file that is not OPML, declares its
own entities (billion laughs) or lists no feed is refused with a message naming the file.
"""

from __future__ import annotations

import html
import html.entities
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from lxml import etree

from flows.errors import CorpusMonitorError
from flows.sources.sitemaps import safe_parser

MAX_OPML_BYTES = 20_000_000
GROUP_SEP = " / "
_ENTITY = re.compile(rb"&([A-Za-z][A-Za-z0-9]{1,31});")
_DECLARES = re.compile(rb"<!ENTITY|<!DOCTYPE[^>\[]*\[", re.IGNORECASE)
_XML_ENTITIES = {b"amp", b"lt", b"gt", b"quot", b"apos"}


class OpmlError(CorpusMonitorError):
    """The file is not an OPML subscription list (exit code 2)."""

    exit_code = 2


@dataclass(frozen=True)
class OpmlFeed:
    url: str
    title: str | None
    group: str | None


@dataclass
class OpmlFile:
    feeds: list[OpmlFeed] = field(default_factory=list)
    duplicates: list[OpmlFeed] = field(default_factory=list)  # listed again (first one kept)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (outline, why)
    title: str | None = None

    @property
    def groups(self) -> list[str]:
        return list(dict.fromkeys(f.group for f in self.feeds if f.group))


def _html_entities(data: bytes) -> bytes:
    """HTML's named entities (``&eacute;``) as character references XML understands."""

    def sub(m: re.Match[bytes]) -> bytes:
        name = m.group(1)
        if name in _XML_ENTITIES:
            return m.group(0)
        char = html.entities.html5.get(name.decode("ascii") + ";")
        if char is None:
            return m.group(0)  # unknown: the parser reports it
        return "".join(f"&#{ord(c)};" for c in char).encode("ascii")

    return _ENTITY.sub(sub, data)


_ESCAPED = re.compile(r"&(?:#[0-9]{1,7}|#x[0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def _unescape(value: str) -> str:
    """Undo a second escaping (``&amp;amp;`` in the file, written by some exporters): only
    complete references with their ``;``, so ``?lang=fr&section=eco`` stays as it is."""
    return _ESCAPED.sub(lambda m: html.unescape(m.group(0)), value)


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    text = " ".join(_unescape(value).split())
    return text or None


def _attr(el: etree._Element, *names: str) -> str | None:
    wanted = {n.lower() for n in names}
    for key, value in el.attrib.items():
        if str(key).lower() in wanted and str(value).strip():
            return str(value).strip()
    return None


def _feed_url(el: etree._Element) -> str | None:
    url = _attr(el, "xmlUrl")
    kind = (_attr(el, "type") or "").lower()
    if url is None and kind in ("rss", "atom", "feed", "sitemap"):
        url = _attr(el, "url")  # some exporters write url= for feeds
    if url is None:
        return None
    url = _unescape(url).strip()
    if url.lower().startswith("feed:"):  # feed://host/x, feed:https://host/x
        rest = url[5:]
        url = rest if rest.lower().startswith(("http://", "https://")) else "http:" + rest
    return url


def parse_opml(data: bytes, source: str = "OPML") -> OpmlFile:
    """Read an OPML document; raise OpmlError naming ``source`` when it is not one."""
    if len(data) > MAX_OPML_BYTES:
        raise OpmlError(f"{source}: larger than {MAX_OPML_BYTES // 1_000_000} MB: not read")
    if _DECLARES.search(data):
        raise OpmlError(f"{source}: declares its own XML entities (<!ENTITY>): refused")
    try:
        root = etree.fromstring(_html_entities(data), safe_parser())
    except etree.XMLSyntaxError as e:
        raise OpmlError(f"{source}: not an OPML file: not well-formed XML ({e})") from None
    if root is None or not isinstance(root.tag, str):
        raise OpmlError(f"{source}: not an OPML file: empty document")
    tag = etree.QName(root).localname.lower()
    if tag != "opml":
        raise OpmlError(f"{source}: not an OPML file: the document is <{tag}>, not <opml>")
    out = OpmlFile(title=_clean(root.findtext("head/title")))
    body = next((c for c in root if isinstance(c.tag, str) and c.tag.lower() == "body"), None)
    if body is None:
        raise OpmlError(f"{source}: not an OPML file: no <body>")
    seen: set[str] = set()

    def walk(parent: etree._Element, path: list[str]) -> None:
        for el in parent:
            if not isinstance(el.tag, str) or etree.QName(el).localname.lower() != "outline":
                continue
            title = _clean(_attr(el, "title") or _attr(el, "text"))
            url = _feed_url(el)
            if url is None:
                if len(el):
                    walk(el, [*path, title or "untitled"])
                elif _attr(el, "url", "htmlUrl"):
                    out.skipped.append((title or _attr(el, "url", "htmlUrl") or "", "not a feed"))
                continue
            group = GROUP_SEP.join(path) if path else None
            feed = OpmlFeed(url, None if title == url else title, group)
            if not url.lower().startswith(("http://", "https://")):
                out.skipped.append((url, "not an http(s) URL"))
            elif url in seen:
                out.duplicates.append(feed)
            else:
                seen.add(url)
                out.feeds.append(feed)
            if len(el):  # a feed outline with children (rare): its children are read too
                walk(el, path)

    walk(body, [])
    if not out.feeds:
        why = "no <outline> with a feed URL (xmlUrl)"
        if out.skipped:
            what, reason = out.skipped[0]
            why += f"; {len(out.skipped)} outline(s) skipped, e.g. {what} ({reason})"
        raise OpmlError(f"{source}: {why}")
    return out


def read_opml(path: Path) -> OpmlFile:
    try:
        if path.stat().st_size > MAX_OPML_BYTES:
            raise OpmlError(f"{path}: larger than {MAX_OPML_BYTES // 1_000_000} MB: not read")
        data = path.read_bytes()
    except OSError as e:
        raise OpmlError(f"{path}: cannot read: {e.strerror or e}") from None
    return parse_opml(data, str(path))


@dataclass(frozen=True)
class ExportFeed:
    url: str
    title: str | None
    group: str | None
    source: str


def write_opml(feeds: Sequence[ExportFeed], title: str = "corpus-monitor feeds") -> bytes:
    """OPML 2.0: groups as (nested) folders, feeds as ``type="rss"`` outlines."""
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = title
    etree.SubElement(head, "dateCreated").text = format_datetime(datetime.now(UTC), usegmt=True)
    body = etree.SubElement(root, "body")
    folders: dict[tuple[str, ...], etree._Element] = {}

    def folder(path: tuple[str, ...]) -> etree._Element:
        if not path:
            return body
        if path not in folders:
            folders[path] = etree.SubElement(
                folder(path[:-1]), "outline", text=path[-1], title=path[-1]
            )
        return folders[path]

    for f in feeds:
        parent = folder(tuple(f.group.split(GROUP_SEP)) if f.group else ())
        el = etree.SubElement(parent, "outline", type="rss", text=f.title or f.url)
        if f.title:
            el.set("title", f.title)
        el.set("xmlUrl", f.url)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
