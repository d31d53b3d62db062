"""The configuration: one TOML file, validated with pydantic.

Every error names the key (``feeds[2].url``) and says what is wrong, in one line.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from flows import __version__
from flows.errors import ConfigError

DEFAULT_CONFIG = "corpus-monitor.toml"
CONFIG_ENV = "CORPUS_MONITOR_CONFIG"

_DURATION = re.compile(r"^\s*([0-9]+)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> int:
    """``"15m"`` → 900. Bare integers are seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like '15m'")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = int(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration; write '<n>s', '<n>m', '<n>h' or '<n>d'")
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


Duration = Annotated[int, BeforeValidator(parse_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_http_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{url!r} is not an http(s) URL")
    if not parts.hostname:
        raise ValueError(f"{url!r} has no host")
    return url.strip()


class WarehouseSettings(_Strict):
    path: Path = Path("warehouse/corpus.duckdb")
    busy_retries: int = Field(5, ge=0, description="retries when another process holds the file")
    busy_wait: Duration = 2
    run_wait: Duration = Field(
        600, description="how long a run waits for another run on this warehouse, then skips"
    )


class SeedSettings(_Strict):
    path: Path = Path("seeds")


def _check_host_port(v: str) -> str:
    """``host`` or ``host:port`` (IPv6 in brackets), lower-cased, as it appears in a URL."""
    parts = urlsplit(f"http://{v.strip().lower()}/")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError(f"{v!r}: the port is not a number from 1 to 65535") from None
    if not parts.hostname or parts.netloc != v.strip().lower() or "@" in v:
        raise ValueError(f"{v!r}: write host or host:port, as it appears in the URL")
    return parts.netloc


class NetworkSettings(_Strict):
    """How corpus-monitor talks to the network: safety rules, caps, politeness, feed health."""

    allow_private_addresses: bool = Field(
        False, description="allow hosts that resolve to loopback/private/link-local addresses"
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="host or host:port (as written in the URL) exempt from the address check",
    )
    resolve: dict[str, str] = Field(
        default_factory=dict, description="host name -> IP address, used instead of DNS"
    )
    timeout_seconds: float = Field(20, gt=0, description="total time for one request")
    connect_timeout_seconds: float = Field(10, gt=0)
    read_timeout_seconds: float = Field(15, gt=0, description="longest wait for the next bytes")
    max_page_bytes: int = Field(5_000_000, gt=0)
    max_feed_bytes: int = Field(10_000_000, gt=0)
    max_redirects: int = Field(5, ge=0, le=20)
    max_entries_per_feed: int = Field(
        500, ge=1, description="entries read per poll (newest first); the rest are recorded"
    )
    max_pages_per_run: int = Field(
        10_000, ge=1, description="page fetches per run; the rest wait in pending_items"
    )
    user_agent: str = f"corpus-monitor/{__version__} (+https://github.com/corpus-monitor)"
    contact: str | None = Field(
        None, description="an e-mail or URL site owners can reach you at (sent in User-Agent)"
    )
    concurrency: int = Field(16, ge=1, le=256, description="page requests in flight in all")
    per_host_concurrency: int = Field(2, ge=1, le=64)
    per_host_delay_seconds: float = Field(
        0.5, ge=0, le=600, description="minimum time between two requests to one host"
    )
    max_retry_after_seconds: float = Field(
        30, ge=0, description="a Retry-After up to this long is waited out within the run"
    )
    robots_txt: bool = Field(True, description="obey robots.txt for article pages")
    failing_after: int = Field(
        10, ge=1, description="consecutive failed polls after which a feed is 'failing'"
    )
    max_backoff: Duration = Field(86_400, description="longest wait between polls of a bad feed")
    unconditional_every: Duration = Field(
        86_400, description="fetch each feed without validators this often (catches 304 liars)"
    )

    @field_validator("user_agent")
    @classmethod
    def _ua(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        if any(c in v for c in "\r\n"):
            raise ValueError("must be one line")
        return v

    @field_validator("contact")
    @classmethod
    def _contact(cls, v: str | None) -> str | None:
        if v is not None and (not v.strip() or any(c in v for c in "\r\n()")):
            raise ValueError("write an e-mail address or URL (one line, no parentheses)")
        return v

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, v: list[str]) -> list[str]:
        return [_check_host_port(h) for h in v]

    @field_validator("resolve")
    @classmethod
    def _resolve(cls, v: dict[str, str]) -> dict[str, str]:
        import ipaddress

        out = {}
        for name, addr in v.items():
            try:
                ipaddress.ip_address(addr)
            except ValueError:
                raise ValueError(f"{name} = {addr!r}: not an IP address") from None
            out[name.strip().lower().rstrip(".")] = addr
        return out

    @property
    def agent(self) -> str:
        """The User-Agent header: ``user_agent`` with the contact added."""
        if not self.contact:
            return self.user_agent
        ua = self.user_agent.rstrip()
        if ua.endswith(")"):
            return f"{ua[:-1]}; {self.contact})"
        return f"{ua} ({self.contact})"


class FeedSettings(_Strict):
    url: str
    name: str | None = None
    every: Duration | None = Field(
        None,
        gt=0,
        description="poll this often in scheduled runs [default: the group's, else adaptive]",
    )
    group: str | None = Field(None, description="a feed group: its cadence and topics apply")

    @field_validator("group")
    @classmethod
    def _group(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be empty")
        return v.strip() if v is not None else None

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _check_http_url(v)

    @property
    def label(self) -> str:
        return self.name or urlsplit(self.url).hostname or self.url


class GroupSettings(_Strict):
    """A feed group (an OPML folder): a polling interval and topics its feeds share."""

    every: Duration | None = Field(
        None, gt=0, description="poll the group's feeds this often [default: adaptive]"
    )
    topics: list[str] | None = Field(
        None, description="match only these topics in the group's articles [default: all]"
    )


class CadenceSettings(_Strict):
    """How often scheduled runs (``run --due-only``) poll a feed with no ``every`` of its own
    or of its group: adapted to how often it publishes, within [min_every, max_every]."""

    adaptive: bool = Field(
        True, description="false: feeds without every are polled at the schedule's interval"
    )
    min_every: Duration = Field(300, description="the shortest adaptive interval")
    max_every: Duration = Field(86_400, description="the longest adaptive interval")

    @model_validator(mode="after")
    def _order(self) -> CadenceSettings:
        if self.min_every > self.max_every:
            raise ValueError(
                f"min_every ({self.min_every} s) must not exceed max_every ({self.max_every} s)"
            )
        return self


class ExportSettings(_Strict):
    dir: Path | None = Field(
        None, description="after every run, write the tables and views here as Parquet"
    )


class ScheduleSettings(_Strict):
    """When `corpus-monitor serve` runs the flow: exactly one of ``every`` and ``cron``."""

    every: Duration | None = Field(None, gt=0)
    cron: str | None = None
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not an IANA time zone (e.g. 'Europe/Berlin')") from None
        return v

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is not None:
            from datetime import datetime

            from cronsim import CronSim, CronSimError  # what Prefect's schedules use

            try:
                CronSim(v, datetime(2026, 1, 1))
            except CronSimError as e:
                raise ValueError(f"{v!r} is not a cron expression (m h dom mon dow): {e}") from None
        return v

    @model_validator(mode="after")
    def _one(self) -> ScheduleSettings:
        if (self.every is None) == (self.cron is None):
            raise ValueError("set exactly one of every and cron")
        return self


class PipelineSettings(_Strict):
    batch_size: int = Field(
        500, ge=1, description="articles per load transaction (the run's first and last: 100)"
    )
    extract_workers: int = Field(0, ge=0, description="extraction processes; 0 = one per core")
    min_text_chars: int = Field(200, ge=0, description="shorter extractions are empty_extraction")
    extraction: Literal["adaptive", "thorough"] = Field(
        "adaptive",
        description="adaptive: trafilatura's readability/jusText fallbacks only for pages whose "
        "extraction comes back short (under 1,500 characters); thorough: for every page "
        "(about a fifth more CPU)",
    )
    retry_failed_pages: int = Field(3, ge=1, description="attempts for transient page failures")
    task_runner: Literal["local", "dask"] = Field(
        "local",
        description="where polls, fetches and extractions run: local (threads and the "
        "extraction processes) or dask (a Dask cluster; needs the dask extra)",
    )
    dask_address: str | None = Field(
        None, description="scheduler of an existing Dask cluster, e.g. tcp://10.0.0.5:8786"
    )
    dask_workers: int = Field(
        0, ge=0, description="without dask_address: local Dask worker processes; 0 = one per core"
    )

    @field_validator("dask_address")
    @classmethod
    def _dask_address(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return v
        if info.data.get("task_runner") != "dask":
            raise ValueError('only read with task_runner = "dask"')
        parts = urlsplit(v.strip())
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme not in ("tcp", "tls") or not parts.hostname or port is None:
            raise ValueError(f"{v!r} is not a Dask scheduler address (tcp://host:port)")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError(f"{v!r}: write only tcp://host:port")
        return v.strip().rstrip("/")

    @field_validator("dask_workers")
    @classmethod
    def _dask_workers(cls, v: int, info: ValidationInfo) -> int:
        if info.data.get("task_runner") != "dask":
            raise ValueError('only read with task_runner = "dask"')
        if info.data.get("dask_address") is not None:
            raise ValueError("sizes a local cluster: the one at dask_address has its own workers")
        return v


class DedupSettings(_Strict):
    """Near-duplicate detection (chosen by measurement: see BENCHMARKS.md)."""

    shingle_words: int = Field(5, ge=1, le=12, description="words per shingle")
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations")
    bands: int = Field(40, ge=1, le=255, description="LSH bands")
    rows: int = Field(2, ge=1, description="signature values per LSH band")
    threshold: float = Field(
        0.35, gt=0, le=1, description="word-shingle Jaccard at or above which a text is a copy"
    )
    containment: float = Field(
        0.8,
        gt=0,
        le=1,
        description="share of a text's shingles found in one stretch of an earlier text at or "
        "above which it is a partial copy of it (an excerpt, a truncated page)",
    )
    boilerplate_docs: int = Field(
        4,
        ge=2,
        description="a paragraph found in this many documents of one site is that site's "
        "boilerplate and counts for nothing in comparisons",
    )

    @model_validator(mode="after")
    def _bands_fit(self) -> DedupSettings:
        if self.bands * self.rows > self.num_perm:
            raise ValueError(
                f"bands x rows ({self.bands} x {self.rows}) must not exceed "
                f"num_perm ({self.num_perm})"
            )
        return self


# Terms match on word boundaries; inflected forms and other scripts are listed where news uses
# them (Russian and Ukrainian case endings, German and French names).
DEFAULT_TOPICS: dict[str, list[str]] = {
    "musk": ["Elon Musk", "Musk", "Илон Маск", "Маск", "Маска", "Маском", "Маску", "Ілон Маск"],
    "russia": [
        "Russia", "Russian", "Russians", "Kremlin", "Moscow", "Russland", "Russie", "Rusia",
        "Россия", "России", "Россию", "Россией", "Кремль", "Кремля", "Москва", "Москвы",
        "Росія", "Росії",
    ],
    "ukraine": [
        "Ukraine", "Ukrainian", "Ukrainians", "Kyiv", "Kiev", "Ukrainer", "Ukrainien",
        "Ucrania", "Украина", "Украины", "Украину", "Україна", "України", "Київ", "Киев",
    ],
    "tesla": ["Tesla"],
    "putin": [
        "Vladimir Putin", "Putin", "Poutine", "Путин", "Путина", "Путину", "Путине", "Путіна",
        "Путін",
    ],
    "united_states": ["United States", "U.S.", "US", "USA", "Washington", "США"],
}  # fmt: skip


class QualitySettings(_Strict):
    """Data-quality gates (Great Expectations suites in expectations/; see its README)."""

    enabled: bool = True
    expectations_dir: Path = Field(
        Path(__file__).resolve().parent.parent / "expectations",
        description="the Great Expectations context with the suites",
    )
    min_text_chars: int = Field(300, ge=0, description="shorter article text is quarantined")
    max_text_chars: int = Field(200_000, ge=1)
    max_title_chars: int = Field(300, ge=1)
    future_tolerance: Duration = Field(86_400, description="published_at may be this far ahead")
    oldest_published: str = Field("1990-01-01", description="an earlier published_at is absurd")
    languages: list[str] = Field(
        default_factory=list, description="allowed language codes; empty: any language"
    )
    feed_max_failed_share: float = Field(0.5, ge=0, le=1)
    feed_max_empty_share: float = Field(0.5, ge=0, le=1)
    feed_max_duplicate_share: float = Field(0.95, ge=0, le=1)
    length_drift_factor: float = Field(
        4.0, gt=1, description="a feed's median text length this run vs its history, either way"
    )
    severity: dict[str, Literal["warn", "fail"]] = Field(
        default_factory=dict,
        description="feed-health expectation (GX type) -> warn (default) or fail",
    )

    @field_validator("oldest_published")
    @classmethod
    def _date(cls, v: str) -> str:
        from datetime import date

        try:
            date.fromisoformat(v)
        except ValueError:
            raise ValueError(f"{v!r} is not a date (YYYY-MM-DD)") from None
        return v

    @model_validator(mode="after")
    def _bounds(self) -> QualitySettings:
        if self.min_text_chars >= self.max_text_chars:
            raise ValueError("min_text_chars must be below max_text_chars")
        return self


class RetentionSettings(_Strict):
    """The raw page archive: every fetched page's bytes, so extraction can be re-run."""

    archive_raw: bool = Field(True, description="keep each fetched page's raw bytes (gzip)")
    raw_dir: Path | None = Field(
        None, description="the archive folder [default: <warehouse file>.raw beside it]"
    )
    raw_days: int | None = Field(
        90,
        ge=1,
        description='prune archived pages older than this many days; "forever" keeps them',
    )

    @field_validator("raw_days", mode="before")
    @classmethod
    def _forever(cls, v: Any) -> Any:
        if isinstance(v, str) and v.strip().lower() == "forever":
            return None
        if isinstance(v, str | bool):
            raise ValueError(f'{v!r}: write a number of days, or "forever"')
        return v


class Settings(_Strict):
    warehouse: WarehouseSettings = WarehouseSettings()
    seeds: SeedSettings = SeedSettings()
    network: NetworkSettings = NetworkSettings()
    pipeline: PipelineSettings = PipelineSettings()
    dedup: DedupSettings = DedupSettings()
    quality: QualitySettings = QualitySettings()
    schedule: ScheduleSettings | None = None
    export: ExportSettings = ExportSettings()
    retention: RetentionSettings = RetentionSettings()
    cadence: CadenceSettings = CadenceSettings()
    feeds: list[FeedSettings] = []
    groups: dict[str, GroupSettings] = Field(default_factory=dict)
    topics: dict[str, list[str]] = Field(default_factory=lambda: dict(DEFAULT_TOPICS))

    @field_validator("topics")
    @classmethod
    def _topics(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, terms in v.items():
            if not re.fullmatch(r"[a-z0-9_]+", name):
                raise ValueError(f"topic name {name!r}: use lower-case letters, digits and _")
            if not terms or any(not t.strip() for t in terms):
                raise ValueError(f"topic {name!r} needs at least one non-empty term")
        return v

    @field_validator("feeds")
    @classmethod
    def _unique_feeds(cls, v: list[FeedSettings]) -> list[FeedSettings]:
        seen: set[str] = set()
        for i, feed in enumerate(v):
            if feed.url in seen:
                raise ValueError(f"feeds[{i}]: {feed.url} is listed twice")
            seen.add(feed.url)
        return v

    @model_validator(mode="after")
    def _known_groups_and_topics(self) -> Settings:
        for i, feed in enumerate(self.feeds):
            if feed.group is not None and feed.group not in self.groups:
                raise ValueError(
                    f"feeds[{i}].group: unknown group {feed.group!r}; define it with "
                    f"[groups.{_toml_key(feed.group)}] (it may be empty)"
                )
        for name, group in self.groups.items():
            for topic in group.topics or []:
                if topic not in self.topics:
                    raise ValueError(
                        f"groups.{_toml_key(name)}.topics: unknown topic {topic!r} "
                        f"(the topics are the keys of [topics]: {', '.join(sorted(self.topics))})"
                    )
        return self

    def feed_every(self, feed: FeedSettings) -> int | None:
        """The fixed interval of a feed: its own ``every``, else its group's (None: adaptive)."""
        if feed.every is not None:
            return feed.every
        group = self.groups.get(feed.group) if feed.group is not None else None
        return group.every if group is not None else None

    def topic_scopes(self) -> dict[str, frozenset[str]]:
        """feed URL -> the only topics matched in its articles, for feeds whose group lists
        ``topics``. An article that also came through an unrestricted feed gets every topic."""
        out = {}
        for feed in self.feeds:
            group = self.groups.get(feed.group) if feed.group is not None else None
            if group is not None and group.topics is not None:
                out[feed.url] = frozenset(group.topics)
        return out

    @property
    def raw_dir(self) -> Path:
        """Where raw pages are archived: ``retention.raw_dir``, else beside the warehouse file."""
        path = self.warehouse.path
        return self.retention.raw_dir or path.with_name(path.name + ".raw")

    def resolve_paths(self, base: Path) -> Settings:
        """Relative paths in a config file are relative to the file's folder."""

        def rel(p: Path) -> Path:
            return p if p.is_absolute() else (base / p)

        return self.model_copy(
            update={
                "warehouse": self.warehouse.model_copy(update={"path": rel(self.warehouse.path)}),
                "seeds": self.seeds.model_copy(update={"path": rel(self.seeds.path)}),
                "quality": self.quality.model_copy(
                    update={"expectations_dir": rel(self.quality.expectations_dir)}
                ),
                "retention": self.retention.model_copy(
                    update={
                        "raw_dir": rel(self.retention.raw_dir) if self.retention.raw_dir else None
                    }
                ),
                "export": self.export.model_copy(
                    update={"dir": rel(self.export.dir) if self.export.dir else None}
                ),
            }
        )


def _toml_key(name: str) -> str:
    """A table key as TOML wants it written: bare when it can be, else quoted."""
    if re.fullmatch(r"[A-Za-z0-9_-]+", name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _describe(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    loc = _loc(tuple(p for p in first["loc"] if p not in ("function-after", "function-before")))
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    more = f" (and {len(err.errors()) - 1} more problem(s))" if len(err.errors()) > 1 else ""
    if not first["loc"]:  # a check across sections: its message names the key
        return f"{source}: {msg}{more}"
    return f"{source}: {loc}: {msg}{more}"


def settings_from_dict(data: dict[str, Any], source: str = "config") -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_describe(e, source)) from None


def find_config(path: str | Path | None) -> Path | None:
    """``--config`` wins, then ``./corpus-monitor.toml``, then ``$CORPUS_MONITOR_CONFIG``."""
    if path is not None:
        return Path(path)
    if Path(DEFAULT_CONFIG).is_file():
        return Path(DEFAULT_CONFIG)
    if env := os.environ.get(CONFIG_ENV):
        return Path(env)
    return None


def load_settings(path: str | Path | None, db: str | Path | None = None) -> Settings:
    """Read and validate the config file; ``db`` overrides ``warehouse.path``."""
    found = find_config(path)
    if found is None:
        raise ConfigError(
            f"no config file: pass --config PATH, create ./{DEFAULT_CONFIG} or set {CONFIG_ENV}"
        )
    if not found.is_file():
        raise ConfigError(f"{found}: config file not found")
    try:
        data = tomllib.loads(found.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{found}: not valid TOML: {e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{found}: not UTF-8 text") from None
    except RecursionError:
        raise ConfigError(f"{found}: not valid TOML: values nested too deeply") from None
    settings = settings_from_dict(data, str(found)).resolve_paths(found.resolve().parent)
    if db is not None:
        settings = settings.model_copy(
            update={"warehouse": settings.warehouse.model_copy(update={"path": Path(db)})}
        )
    return settings


def check_seeds_folder(settings: Settings, config: str | Path | None) -> None:
    """A run checks every article against the seed corpus: without its folder, every copy of a
    seed would pass as unique. Checked before a run starts (reading commands do not need it)."""
    path = settings.seeds.path
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "does not exist"
        raise ConfigError(
            f"{find_config(config) or 'config'}: seeds.path: {path} {what} (create it, even "
            "empty, or point seeds.path at the seed corpus)"
        )
