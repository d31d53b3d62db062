"""Properties of URL canonicalisation and of the config loader, checked on generated inputs.

The examples are the same on every run (the ``ci`` profile in conftest.py); a failure prints the
smallest input that shows it. ``HYPOTHESIS_PROFILE=thorough`` searches much harder.
"""

from __future__ import annotations

import math
import re
import tomllib
import unicodedata
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from types import UnionType
from typing import Any, get_args
from urllib.parse import unquote_to_bytes, urlsplit

import idna
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import BaseModel

from flows.config import FeedSettings, Settings, load_settings, settings_from_dict
from flows.errors import ConfigError
from flows.sources.urls import (
    DEFAULT_PORTS,
    TRACKING_PARAMS,
    TRACKING_PREFIXES,
    article_id,
    canonical_url,
    is_tracking_param,
)

# --- URLs ----------------------------------------------------------------------------------

UNRESERVED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"
# Letters of several scripts, lower case (host labels) and upper case (paths keep their case).
LOWER = "abcxyzàéîõüßçñøåæþÿабвгдежзийклмнопрстуфхцчшщъыьэюяёαβγδεζηθλμξπρστφχψως新闻中文报道日本語"
UPPER = "ÀÉÎÕÜÇÑØÅÆÞАБВЖЗЯЁΑΒΓΔΩ"


def percent_escapes() -> st.SearchStrategy[str]:
    """``%XX`` for any byte, upper or lower hex: UTF-8 sequences and Latin-1/cp1251 bytes alike."""
    return st.tuples(st.integers(0, 255), st.booleans()).map(
        lambda t: f"%{t[0]:02X}" if t[1] else f"%{t[0]:02x}"
    )


def pieces(extra: str) -> st.SearchStrategy[str]:
    return st.lists(
        st.one_of(
            st.sampled_from(UNRESERVED + extra), st.sampled_from(LOWER + UPPER), percent_escapes()
        ),
        max_size=8,
    ).map("".join)


def recased(text: str, flags: list[bool]) -> str:
    """Upper-case the characters ``flags`` picks, where lower-casing brings them back."""
    out = []
    for ch, flip in zip(text, flags + [False] * len(text), strict=False):
        up = ch.upper()
        out.append(up if flip and len(up) == 1 and up.lower() == ch else ch)
    return "".join(out)


def _idna_ok(host: str) -> bool:
    try:
        idna.encode(host)
    except idna.IDNAError:
        return False
    return True


ascii_labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
unicode_labels = st.text(st.sampled_from(LOWER + "0123456789"), min_size=1, max_size=8)
domain_names = st.tuples(
    st.lists(ascii_labels | unicode_labels, min_size=1, max_size=3),
    st.sampled_from(["com", "example", "co.uk", "рф", "中国", "xn--p1ai"]),
).map(lambda t: ".".join([*t[0], t[1]]))


@dataclass(frozen=True)
class Url:
    """A URL built from parts, and what its canonical form must contain."""

    scheme: str
    host: str  # as written: "News.Example.", "203.0.113.7", "[FE80::1%25eth0]"
    canonical_host: str  # "news.example", "203.0.113.7", "[fe80::1%25eth0]"
    port: int | None
    path: str
    query: tuple[str, ...] | None  # "name=value" pairs as written; None: no "?"
    fragment: str | None

    @property
    def text(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        query = "?" + "&".join(self.query) if self.query is not None else ""
        fragment = "#" + self.fragment if self.fragment is not None else ""
        return f"{self.scheme}://{self.host}{port}{self.path}{query}{fragment}"

    @property
    def canonical_netloc(self) -> str:
        default = DEFAULT_PORTS.get(self.scheme.lower())
        keep = self.port is not None and self.port != default
        return self.canonical_host + (f":{self.port}" if keep else "")


@st.composite
def hosts(draw: st.DrawFn) -> tuple[str, str]:
    """(host as written, canonical host): a domain name (IDN too), an IPv4 or an IPv6 literal."""
    kind = draw(st.sampled_from(["name", "ipv4", "ipv6"]))
    flags = draw(st.lists(st.booleans(), max_size=40))
    if kind == "name":
        name = draw(domain_names.filter(_idna_ok))
        dot = draw(st.sampled_from(["", "."]))
        return recased(name, flags) + dot, name
    if kind == "ipv4":
        addr = str(draw(st.ip_addresses(v=4)))
        return addr, addr
    addr = str(draw(st.ip_addresses(v=6)))
    zone = draw(st.none() | st.from_regex(r"[A-Za-z0-9]{1,6}", fullmatch=True))
    zone_text = f"%25{zone}" if zone else ""  # a zone id keeps its case
    return f"[{recased(addr, flags)}{zone_text}]", f"[{addr}{zone_text}]"


tracking_names = st.one_of(
    st.sampled_from(sorted(TRACKING_PARAMS)),
    st.tuples(st.sampled_from(TRACKING_PREFIXES), pieces("")).map("".join),
).flatmap(
    lambda name: st.sampled_from(
        [name, name.upper(), name.title(), "".join(f"%{b:02X}" for b in name.encode())]
    )
)
keys = pieces("!$'()*,;:@/?+")
values = pieces("!$'()*,;:@/?+=")
pairs = st.one_of(
    st.tuples(keys, values).map("=".join),
    keys,  # a name without "=": a blank value
    st.tuples(tracking_names, values).map("=".join),
)


@st.composite
def urls(draw: st.DrawFn, *, host_case: bool = True) -> Url:
    scheme = draw(st.sampled_from(["http", "https"]))
    if host_case:
        scheme = draw(st.sampled_from([scheme, scheme.upper(), scheme.title()]))
    written, canonical_host = draw(hosts())
    if not host_case:
        written = canonical_host
    return Url(
        scheme=scheme,
        host=written,
        canonical_host=canonical_host,
        port=draw(st.none() | st.sampled_from([80, 443]) | st.integers(1, 65535)),
        path=draw(
            st.lists(pieces("!$&'()*+,;=:@"), max_size=4).map(lambda s: "".join("/" + x for x in s))
        ),
        query=draw(st.none() | st.lists(pairs, max_size=5).map(tuple)),
        fragment=draw(st.none() | st.text(max_size=10)),
    )


def form_pairs(query: str) -> list[tuple[bytes, bytes]]:
    """A query as the server reads it: (name, value) bytes, ``+`` a space, blank parts skipped."""
    out = []
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            out.append(
                (
                    unquote_to_bytes(name.replace("+", " ")),
                    unquote_to_bytes(value.replace("+", " ")),
                )
            )
    return out


def tracking(name: bytes) -> bool:
    return is_tracking_param(name.decode("utf-8", "surrogateescape"))


IPV6_HTTPS = Url("https", "[::1]", "[::1]", 443, "/a", None, None)
LATIN1_QUERY = Url(
    "http", "news.example", "news.example", None, "/s", ("q=caf%E9", "utm_source=rss"), "top"
)


@given(urls())
@example(IPV6_HTTPS)  # the default port used to stay on IPv6 literals
@example(
    replace(
        IPV6_HTTPS, scheme="http", host="[2001:DB8::1]", canonical_host="[2001:db8::1]", port=80
    )
)
@example(LATIN1_QUERY)  # non-UTF-8 escapes used to become %EF%BF%BD
def test_canonical_url_form(u: Url) -> None:
    c = canonical_url(u.text)
    parts = urlsplit(c)
    assert canonical_url(c) == c  # idempotent
    assert "#" not in c and parts.fragment == ""
    assert parts.scheme == u.scheme.lower()
    assert parts.netloc == u.canonical_netloc  # host lower-cased, default port gone, others kept
    assert parts.path == (u.path or "/")  # path kept as written, case and escapes included
    expected = [p for p in form_pairs("&".join(u.query or ())) if not tracking(p[0])]
    assert form_pairs(parts.query) == expected  # every tracking name gone, the rest in order
    assert not any(tracking(name) for name, _ in form_pairs(parts.query))


@st.composite
def url_variants(draw: st.DrawFn) -> tuple[Url, Url]:
    """A URL and one that differs only in scheme/host case, default port, tracking, fragment."""
    base = draw(urls(host_case=False))
    flags = draw(st.lists(st.booleans(), max_size=40))
    host = base.host
    if host.startswith("["):  # recase the address, not the zone id
        addr, pct, zone = host[1:-1].partition("%")
        host = f"[{recased(addr, flags)}{pct}{zone}]"
    else:
        host = recased(host, flags) + draw(st.sampled_from(["", "."]))
    default = DEFAULT_PORTS[base.scheme]
    port = base.port
    if port is None or port == default:
        port = draw(st.sampled_from([None, default]))
    query = list(base.query or ())
    for extra in draw(st.lists(st.tuples(tracking_names, values), max_size=3)):
        query.insert(draw(st.integers(0, len(query))), "=".join(extra))
    variant = replace(
        base,
        scheme=draw(st.sampled_from([base.scheme, base.scheme.upper()])),
        host=host,
        port=port,
        query=tuple(query) if query or base.query is not None else None,
        fragment=draw(st.none() | st.text(max_size=10)),
    )
    return base, variant


@given(url_variants())
def test_tracking_fragment_and_case_variants_share_one_article_id(pair: tuple[Url, Url]) -> None:
    base, variant = pair
    a, b = canonical_url(base.text), canonical_url(variant.text)
    assert a == b, (base.text, variant.text)
    assert article_id(a) == article_id(b) == article_id(canonical_url(b))
    assert re.fullmatch(r"[0-9a-f]{16}", article_id(a))


@given(st.text() | st.text().map(lambda s: "https://" + s))
@example("https://news.example:99999/b#x")  # a port out of range used to raise
@example("https://[news.example/c")  # so did an unclosed IPv6 bracket
@example("https:////x")  # no host: used to come back as https://x, another URL
@example("http://news.example/a?q=\udce9")  # a lone surrogate in a str
def test_canonical_url_never_raises_and_is_idempotent(text: str) -> None:
    c = canonical_url(text)
    assert "#" not in c
    assert canonical_url(c) == c


# --- the config loader ---------------------------------------------------------------------


def _section_model(annotation: Any) -> type[BaseModel] | None:
    """The model of a ``[section]`` (``ScheduleSettings | None`` included), else None."""
    options = get_args(annotation) if isinstance(annotation, UnionType) else (annotation,)
    for a in options:
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a
    return None


SECTIONS = {
    name: model
    for name, field in Settings.model_fields.items()
    if (model := _section_model(field.annotation)) is not None
}
KEYS = sorted(
    [
        *SECTIONS,
        *(f"{s}.{f}" for s, model in SECTIONS.items() for f in model.model_fields),
        "feeds",
        *(f"feeds[{i}].{f}" for i in (0, 1) for f in FeedSettings.model_fields),
        "topics",
        "topics.musk",
        "topics.new_topic",
    ]
)
FEEDS = [{"url": "https://news.example/rss.xml"}, {"url": "https://other.example/atom.xml"}]

# Values near the edges of what the keys accept, mixed with arbitrary TOML values below.
NEAR_VALID: list[Any] = [
    *("15m", "1s", " 2 h ", "0s", "-1m", "1w", "1.5h", "١٥m", "90"),
    *("https://news.example/rss.xml", "http://a.example/", "ftp://a.example/", "https://", ""),
    *("https://[::1", "https://a.example:99999/", "https://u:p@a.example/", " https://a.example "),
    *(
        "example.com:8080",
        "[::1]:8000",
        "a@b.example",
        "[::1",
        "x:0",
        "EXAMPLE.com",
        "exa＃mple.com",
    ),
    *("203.0.113.7", "::1", "999.1.1.1", "*/5 * * * *", "61 * * * *", "* * *", "0 0 L * *"),
    *("1990-01-01", "2020-02-30", "warn", "fail", "UTC", " ", "\n", "a\x00b"),
    *(0, 1, -1, 2, 15, 16, 20, 21, 40, 128, 255, 256, 300, 1024, 1025, 65535, 2**63 - 1, -(2**63)),
    *(0.0, -0.0, 0.5, 1.0, 4.0, 1e308, math.inf, -math.inf, math.nan, True, False),
    *(date(2020, 1, 1), datetime(2020, 1, 1, 12), time(12, 30)),
    *([], ["example.com:8080", "[::1]:8000"], ["Musk"], [""], [1]),
    *({}, {"news.example": "203.0.113.7"}, {"news.example": 5}, {"musk": ["Musk"]}, {"Bad": ["x"]}),
    *({"empty": []}, {"expect_column_values_to_be_between": "fail"}, {"x": "panic"}),
    *(
        [{"url": "https://a.example/"}],
        {"url": "https://a.example/", "every": "15m"},
        {"cron": "x"},
    ),
]
OFFSETS = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
toml_scalars = st.one_of(
    st.sampled_from(NEAR_VALID),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.text(max_size=20),
    st.dates(),
    st.times(),
    st.datetimes(),
    st.datetimes(timezones=st.sampled_from(OFFSETS)),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def config_with(key: str, value: Any) -> dict[str, Any]:
    """A valid config (two feeds, a schedule) with ``value`` put at the dotted ``key``."""
    cfg: dict[str, Any] = {"feeds": [dict(f) for f in FEEDS], "schedule": {"every": "1h"}}
    if key in ("schedule.every", "schedule.cron"):
        cfg["schedule"] = {}  # exactly one of them
    tokens = re.findall(r"[^.\[\]]+|\[\d+\]", key)
    node: Any = cfg
    for token in tokens[:-1]:
        node = node[int(token[1:-1])] if token.startswith("[") else node.setdefault(token, {})
    last = tokens[-1]
    if last.startswith("["):
        node[int(last[1:-1])] = value
    else:
        node[last] = value
    return cfg


def names_key(message: str, source: str, key: str) -> bool:
    """Does a ConfigError message point at ``key``?

    ``source: loc: what is wrong``, where loc is the key, a place inside its value
    (``network.resolve.news.example``), or, for a check across keys (bands x rows, min below
    max, every or cron, a feed listed twice), the section whose text then names the key.
    """
    assert message.startswith(f"{source}: "), message
    loc, _, detail = message[len(source) + 2 :].partition(": ")
    if loc == key or loc.startswith((key + ".", key + "[")):
        return True
    if key.startswith((loc + ".", loc + "[")):
        m = re.match(r"\.([^.\[]+)|(\[\d+\])", key[len(loc) :])
        assert m is not None
        return (m.group(1) or loc + m.group(2)) in detail
    return False


def toml_text(v: Any) -> str:
    """A value as TOML, inline: what a hand-written config file would hold."""
    if isinstance(v, str):
        escaped = "".join(
            "\\" + ch
            if ch in '"\\'
            else f"\\u{ord(ch):04X}"
            if ord(ch) < 0x20 or ord(ch) == 0x7F
            else ch
            for ch in v
        )
        return f'"{escaped}"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, date | time):  # datetime is a date
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(toml_text(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{toml_text(k)} = {toml_text(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


def same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


# One value of every TOML type (and a few telling strings), tried at every key: a validator
# that meets a type it does not expect is caught on every run, not only when examples reach it.
EVERY_TYPE: list[Any] = [
    *(True, False, 0, 1, -1, 2**63 - 1, 0.5, -0.5, math.nan, math.inf, -math.inf),
    *("", " ", "x", "forever", " 15m ", "https://a.example/", "[::1]:8000", "203.0.113.7"),
    *(date(2020, 1, 1), datetime(2020, 1, 1, 12), datetime(2020, 1, 1, 12, tzinfo=UTC), time(12)),
    *([], [""], ["x"], [1], [True], [{}], {}, {"a": 1}, {"a": "x"}, {"a": ["x"]}, {"url": 1}),
]


@pytest.mark.parametrize("key", KEYS)
def test_every_toml_type_at_every_key_loads_or_names_the_key(key: str) -> None:
    for value in EVERY_TYPE:
        try:
            settings_from_dict(config_with(key, value))
        except ConfigError as e:
            assert names_key(str(e), "config", key), (key, value, str(e))


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("config") / "corpus-monitor.toml"


@given(st.sampled_from(KEYS), toml_values)
def test_any_value_at_a_real_key_loads_or_names_the_key(key: str, value: Any) -> None:
    try:
        settings = settings_from_dict(config_with(key, value))
    except ConfigError as e:
        assert names_key(str(e), "config", key), (key, value, str(e))
    else:
        assert isinstance(settings, Settings)


@given(st.sampled_from(KEYS), toml_values)
def test_any_value_in_a_config_file_loads_or_names_the_key(
    config_file: Path, key: str, value: Any
) -> None:
    cfg = config_with(key, value)
    text = "".join(f"{toml_text(k)} = {toml_text(v)}\n" for k, v in cfg.items())
    assert same(tomllib.loads(text), cfg)  # the file says what the test means
    config_file.write_text(text, encoding="utf-8")
    try:
        settings = load_settings(config_file)
    except ConfigError as e:
        assert names_key(str(e), str(config_file), key), (key, value, str(e))
    else:
        assert isinstance(settings, Settings)


UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION_KEYS = [
    "warehouse.busy_wait",
    "warehouse.run_wait",
    "network.max_backoff",
    "network.unconditional_every",
    "quality.future_tolerance",
    "schedule.every",
    "feeds[0].every",
]


def value_at(settings: Settings, key: str) -> Any:
    node: Any = settings
    for token in re.findall(r"[^.\[\]]+|\[\d+\]", key):
        node = node[int(token[1:-1])] if token.startswith("[") else getattr(node, token)
    return node


@given(
    st.sampled_from(DURATION_KEYS),
    st.integers(1, 10**7),
    st.sampled_from("smhd"),
    st.sampled_from(["", " ", "\t"]),
    st.sampled_from(["", " "]),
)
def test_durations_round_trip_to_seconds(key: str, n: int, unit: str, pad: str, gap: str) -> None:
    text = f"{pad}{n}{gap}{unit}{pad}"
    assert value_at(settings_from_dict(config_with(key, text)), key) == n * UNIT_SECONDS[unit]
    assert value_at(settings_from_dict(config_with(key, n)), key) == n  # bare integers: seconds


@given(st.sampled_from(DURATION_KEYS), st.integers(-(10**6), 0), st.sampled_from(["", *"smhd"]))
def test_non_positive_durations_are_refused_at_their_key(key: str, n: int, unit: str) -> None:
    value: Any = f"{n}{unit}" if unit else n
    with pytest.raises(ConfigError) as e:
        settings_from_dict(config_with(key, value))
    assert str(e.value).startswith(f"config: {key}: ")


PLACES = {"": Settings, **SECTIONS, "feeds[0]": FeedSettings}


@given(st.sampled_from(sorted(PLACES)), st.text(min_size=1, max_size=12), toml_values)
def test_unknown_keys_are_refused(place: str, name: str, value: Any) -> None:
    model = PLACES[place]
    if name in model.model_fields:
        name += "_x"
    key = f"{place}.{name}" if place else name
    cfg = config_with(f"{place}.__probe__" if place else "__probe__", value)
    node = cfg
    for token in re.findall(r"[^.\[\]]+|\[\d+\]", place):
        node = node[int(token[1:-1])] if token.startswith("[") else node[token]
    node[name] = node.pop("__probe__")
    with pytest.raises(ConfigError) as e:
        settings_from_dict(cfg)
    assert str(e.value) == f"config: {key}: unknown key"


@given(st.binary(max_size=300))
def test_random_bytes_load_or_give_config_error(config_file: Path, data: bytes) -> None:
    config_file.write_bytes(data)
    try:
        load_settings(config_file)
    except ConfigError as e:
        assert str(e).startswith(f"{config_file}: ")


@given(
    st.binary(max_size=200),
    st.sampled_from([b"\xff", b"\xfe", b"\xc0\xaf", b"\xed\xa0\x80"]),
    st.binary(max_size=200),
)
def test_a_file_that_is_not_utf8_gives_config_error(
    config_file: Path, head: bytes, bad: bytes, tail: bytes
) -> None:
    config_file.write_bytes(head + bad + tail)
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(config_file)


@given(st.text(max_size=200))
def test_a_file_that_is_not_toml_gives_config_error(config_file: Path, text: str) -> None:
    config_file.write_text(text + "\n[[\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config_file)


@given(st.integers(1, 3000), st.sampled_from(["[", "{ a = "]))
@example(1000, "[")
def test_deeply_nested_toml_gives_config_error(config_file: Path, depth: int, opener: str) -> None:
    closer = {"[": "]", "{ a = ": "}"}[opener]
    config_file.write_text(
        "topics = " + opener * depth + "1" + closer * depth + "\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError):
        load_settings(config_file)


# --- the comparison form -----------------------------------------------------------------------

_FOLDS = str.maketrans(
    {
        **{c: "'" for c in "‘’‚‛`´′ʼ"},
        **{c: '"' for c in "“”„‟″«»〝〞"},
        **{c: "-" for c in "‐‑‒–—―−"},
    }
)
_HIDDEN = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))


def _reference_normalise(text: str) -> str:
    """The comparison form as specified, written the plain way."""
    text = unicodedata.normalize("NFKC", text.translate(_HIDDEN).translate(_FOLDS))
    return " ".join(text.translate(_FOLDS).replace("''", '"').casefold().split())


# ‴ and ﹘ become quote marks and dashes only under NFKC (′′′, —)
_TRICKY = "aé'`´’“”„«»–—\u00ad\u200b\u2060\ufeffﬁ①Ⅻ½\u0301 \n\t″〝‴﹘"


@given(st.text(alphabet=st.sampled_from(_TRICKY) | st.characters(), max_size=60))
@example("rock ´n´ roll")
@example("``TeX''")
@example("e\u0301\u00ad\u0301")
@example("5‴ ﹘ ok")
def test_normalise_matches_the_plain_definition(text: str) -> None:
    from flows.extraction.text import normalise

    assert normalise(text) == _reference_normalise(text)


# --- load batches ------------------------------------------------------------------------------


@given(st.integers(0, 3000), st.integers(1, 1000))
@example(0, 500)
@example(101, 500)
@example(201, 500)
@example(34, 8)
def test_batches_cover_the_work_in_order_with_small_edges(n: int, size: int) -> None:
    from flows.orchestration.pipeline import EDGE_BATCH, batches

    work: list[Any] = list(range(n))
    out = batches(work, size)
    assert [w for b in out for w in b] == work
    assert all(len(b) <= size for b in out)
    if n == 0:
        assert out == [[]]  # the feed cursors still get their load
        return
    assert all(out)
    assert len(out[0]) <= EDGE_BATCH and len(out[-1]) <= EDGE_BATCH
    # no more batches than plain chunks of `size` would make, plus the two edges
    assert len(out) <= -(-n // size) + 2
