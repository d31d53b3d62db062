"""Data-quality gates with Great Expectations.

The suites are files in the GX file context in ``expectations/`` (``expectations/expectations/
*.json``), each with a checkpoint that validates a pandas DataFrame:

- ``articles``: every batch, before it loads. A row that fails any expectation is held back in
  the ``quarantine`` table with the expectation, the value and the whole record; the other rows
  load.
- ``feed_health``: once per run, one row per feed that had new URLs: shares of failed fetches,
  empty extractions and duplicates, and the median text length against the feed's history. A
  failure is a warning in the run summary, or fails the run (``[quality] severity``).
- ``warehouse_integrity``: once per run, after the loads: duplicate ids or URLs, duplicates
  pointing nowhere, topic and feed rows pointing at no article. A failure fails the run.

Values that come from the config or the clock are suite parameters (``{"$PARAMETER": name}``
in the JSON), filled in from ``[quality]`` at each run (:func:`parameters`). Great Expectations
takes seconds to import, so it is imported only when there is something to validate.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flows.config import QualitySettings
from flows.errors import CorpusMonitorError

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

ARTICLES = "articles"
FEED_HEALTH = "feed_health"
INTEGRITY = "warehouse_integrity"
SUITES = (ARTICLES, FEED_HEALTH, INTEGRITY)
DUPLICATE_STATUSES = ("exact_duplicate", "near_duplicate", "partial_copy")
STATUSES = ("unique", *DUPLICATE_STATUSES)
# Validation results GX keeps under uncommitted/validations, per suite (Data Docs show them).
KEEP_RESULTS = 50
_VALUE_CHARS = 200


class QualityError(CorpusMonitorError):
    """A gate that fails the run (integrity, or a feed-health expectation set to fail)."""

    exit_code = 1


@dataclass
class Outcome:
    """One expectation's result on one validation."""

    suite: str
    expectation: str
    column: str | None
    success: bool
    unexpected_count: int | None
    element_count: int | None
    observed_value: str | None
    failing: list[Any] = field(default_factory=list)  # index labels of the failing rows


def parameters(q: QualitySettings, now: datetime | None = None) -> dict[str, Any]:
    """The suite parameters, from the config and the clock."""
    now = now or datetime.now(UTC)
    oldest = date.fromisoformat(q.oldest_published)
    return {
        "min_text_chars": q.min_text_chars,
        "max_text_chars": q.max_text_chars,
        "max_title_chars": q.max_title_chars,
        "oldest_published": datetime(oldest.year, oldest.month, oldest.day, tzinfo=UTC),
        "latest_published": now + timedelta(seconds=q.future_tolerance),
        "languages": list(q.languages),
        "feed_max_failed_share": q.feed_max_failed_share,
        "feed_max_empty_share": q.feed_max_empty_share,
        "feed_max_duplicate_share": q.feed_max_duplicate_share,
        "min_length_ratio": 1 / q.length_drift_factor,
        "max_length_ratio": q.length_drift_factor,
    }


def _skipped(expectation: str, fld: str | None, q: QualitySettings) -> bool:
    """An expectation that applies only when configured (the language set)."""
    return (
        expectation == "expect_column_values_to_be_in_set" and fld == "language" and not q.languages
    )


class Gates:
    """The GX file context and its checkpoints (one per suite)."""

    def __init__(self, root: Path) -> None:
        if not (root / "great_expectations.yml").is_file():
            raise CorpusMonitorError(
                f"{root}: no Great Expectations context here "
                "(quality.expectations_dir must point at the project's expectations/ folder)"
            )
        import great_expectations as gx

        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        self.root = root
        self.ctx = gx.get_context(mode="file", context_root_dir=str(root))

    def validate(
        self, suite: str, df: pd.DataFrame, params: dict[str, Any], *, basic: bool = False
    ) -> list[Outcome]:
        """The suite's checkpoint on ``df``. ``basic``: its validations alone, with counts but
        no row indices (GX's BASIC result format), which costs GX about 0.1 s less a call; a
        checkpoint with actions always runs whole."""
        checkpoint = self.ctx.checkpoints.get(suite)
        batch = {"dataframe": df}
        if basic and not checkpoint.actions:
            fmt = {"result_format": "BASIC"}
            return self._outcomes(
                suite,
                [
                    self.ctx.validation_definitions.get(v.name).run(
                        batch_parameters=batch, expectation_parameters=params, result_format=fmt
                    )
                    for v in checkpoint.validation_definitions
                ],
            )
        result = checkpoint.run(batch_parameters=batch, expectation_parameters=params)
        return self._outcomes(suite, list(result.run_results.values()))

    def _outcomes(self, suite: str, runs: list[Any]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for run in runs:
            for r in run.results:
                cfg, res = r.expectation_config, r.result or {}
                if cfg is None:  # pragma: no cover - GX always sets it on checkpoint results
                    continue
                exc = r.exception_info or {}
                if exc.get("raised_exception"):
                    raise CorpusMonitorError(
                        f"suite {suite}: {cfg.type}({cfg.kwargs.get('column')}) could not run: "
                        f"{exc.get('exception_message')}"
                    )
                observed = res.get("observed_value")
                outcomes.append(
                    Outcome(
                        suite=suite,
                        expectation=cfg.type,
                        column=cfg.kwargs.get("column"),
                        success=bool(r.success),
                        unexpected_count=res.get("unexpected_count"),
                        element_count=res.get("element_count"),
                        observed_value=None if observed is None else str(observed),
                        failing=list(res.get("unexpected_index_list") or []),
                    )
                )
        self._prune(suite)
        return outcomes

    def _prune(self, suite: str) -> None:
        folder = self.root / "uncommitted" / "validations" / suite
        if not folder.is_dir():
            return
        runs = sorted(p for p in folder.rglob("*.json"))
        for old in runs[:-KEEP_RESULTS]:
            old.unlink(missing_ok=True)


_GATES: dict[Path, Gates] = {}
_GATES_LOCK = threading.Lock()


def gates(root: Path) -> Gates:
    """The suites of a context folder, loaded once per process (a run may load them ahead, in
    a thread, while the feeds are polled)."""
    root = root.resolve()
    with _GATES_LOCK:
        if root not in _GATES:
            _GATES[root] = Gates(root)
        return _GATES[root]


# --- articles: row-level, before load ------------------------------------------------------


def article_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    df = pd.DataFrame(list(rows))
    df["published_at"] = pd.to_datetime(df["published_at"], utc=True)
    df["similarity"] = pd.to_numeric(df["similarity"], errors="coerce")
    if "containment" not in df:  # a record held before partial copies were told apart
        df["containment"] = None
    df["containment"] = pd.to_numeric(df["containment"], errors="coerce")
    return df.reset_index(drop=True)


@dataclass
class ArticleCheck:
    outcomes: list[Outcome]
    failures: dict[int, list[dict[str, Any]]]  # row position -> what it failed


def check_articles(
    rows: Sequence[dict[str, Any]], q: QualitySettings, params: dict[str, Any]
) -> ArticleCheck:
    df = article_frame(rows)
    g = gates(q.expectations_dir)

    def validate(basic: bool) -> list[Outcome]:
        found = g.validate(ARTICLES, df, params, basic=basic)
        return [o for o in found if not _skipped(o.expectation, o.column, q)]

    # a batch nearly always passes: the rows that fail are asked for only when some do
    outcomes = validate(basic=True)
    if not all(o.success for o in outcomes):
        outcomes = validate(basic=False)
    failures: dict[int, list[dict[str, Any]]] = {}
    for o in outcomes:
        for i in o.failing:
            value = df.at[i, o.column] if o.column in df.columns else None
            failures.setdefault(int(i), []).append(
                {"expectation": o.expectation, "field": o.column, "value": _text(value)}
            )
    return ArticleCheck(outcomes, failures)


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        import pandas as pd

        if value is pd.NaT:
            return None
    except ImportError:  # pragma: no cover
        pass
    s = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return s if len(s) <= _VALUE_CHARS else s[:_VALUE_CHARS] + "…"


def _jsonable(v: Any) -> Any:
    return v.isoformat() if isinstance(v, datetime | date) else v


def quarantine_row(
    run_id: str, record: dict[str, Any], failures: list[dict[str, Any]], at: datetime
) -> dict[str, Any]:
    first = failures[0]
    qid = hashlib.blake2b(f"{run_id}\n{record['url']}".encode(), digest_size=8).hexdigest()
    return {
        "quarantine_id": qid,
        "run_id": run_id,
        "article_id": record["article_id"],
        "url": record["url"],
        "feed_url": record.get("feed_url"),
        "suite": ARTICLES,
        "expectation": first["expectation"],
        "field": first["field"],
        "value": first["value"],
        "failures": json.dumps(failures, ensure_ascii=False),
        "record": json.dumps({k: _jsonable(v) for k, v in record.items()}, ensure_ascii=False),
        "quarantined_at": at,
    }


def result_rows(
    run_id: str,
    batch: int | None,
    outcomes: Sequence[Outcome],
    severity: dict[str, str],
    at: datetime,
) -> list[dict[str, Any]]:
    return [
        {
            "run_id": run_id,
            "batch": batch,
            "suite": o.suite,
            "expectation": o.expectation,
            "field": o.column,
            "success": o.success,
            "unexpected_count": o.unexpected_count,
            "element_count": o.element_count,
            "observed_value": o.observed_value,
            "severity": severity.get(o.suite, "warn"),
            "validated_at": at,
        }
        for o in outcomes
    ]


# --- feed health and integrity: once per run, after the loads --------------------------------

_FEED_HEALTH_SQL = """
WITH attempts AS (
    SELECT feed_url, 'article' AS kind, dedup_status <> 'unique' AS dup, length(text) AS len
    FROM articles WHERE run_id = $run
    UNION ALL
    SELECT feed_url, CASE WHEN stage = 'extract' THEN 'empty' ELSE 'failed' END, NULL, NULL
    FROM fetch_errors WHERE run_id = $run AND stage IN ('page', 'extract') AND feed_url IS NOT NULL
    UNION ALL
    SELECT feed_url, 'quarantined', NULL, NULL FROM quarantine WHERE run_id = $run
),
history AS (  -- the stored lengths: the history's texts are not read
    SELECT feed_url, median(text_chars) AS median_len
    FROM articles WHERE run_id <> $run GROUP BY feed_url
)
SELECT a.feed_url,
       count(*) AS new_urls,
       avg((a.kind = 'failed')::INTEGER) AS failed_share,
       avg((a.kind = 'empty')::INTEGER) AS empty_share,
       coalesce(avg(a.dup::INTEGER) FILTER (WHERE a.kind = 'article'), 0) AS duplicate_share,
       median(a.len) FILTER (WHERE a.kind = 'article') / any_value(h.median_len) AS length_ratio
FROM attempts a LEFT JOIN history h USING (feed_url)
GROUP BY a.feed_url ORDER BY a.feed_url
"""

_INTEGRITY_SQL = """
SELECT
    (SELECT count(*) - count(DISTINCT article_id) FROM articles) AS duplicate_article_ids,
    (SELECT count(*) - count(DISTINCT url) FROM articles) AS duplicate_urls,
    (SELECT count(*) FROM articles a WHERE a.duplicate_of IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM articles o WHERE o.article_id = a.duplicate_of)
        AND NOT EXISTS (SELECT 1 FROM seeds s WHERE 'seed:' || s.seed_id = a.duplicate_of))
        AS unresolved_duplicate_of,
    (SELECT count(*) FROM article_topics t
        WHERE NOT EXISTS (SELECT 1 FROM articles a WHERE a.article_id = t.article_id))
        AS orphan_topic_rows,
    (SELECT count(*) FROM article_topic_pairs t
        WHERE NOT EXISTS (SELECT 1 FROM articles a WHERE a.article_id = t.article_id))
        AS orphan_topic_pair_rows,
    (SELECT count(*) FROM article_feeds f
        WHERE NOT EXISTS (SELECT 1 FROM articles a WHERE a.article_id = f.article_id))
        AS orphan_feed_links
"""


@dataclass
class RunCheck:
    outcomes: list[Outcome]
    severity: dict[str, str]  # "suite:field" -> warn | fail
    warnings: list[Outcome]
    errors: list[Outcome]
    feeds: list[dict[str, Any]]


def check_run(
    con: duckdb.DuckDBPyConnection, run_id: str, q: QualitySettings, params: dict[str, Any]
) -> RunCheck:
    g = gates(q.expectations_dir)
    feeds = con.execute(_FEED_HEALTH_SQL, {"run": run_id}).df()
    outcomes: list[Outcome] = []
    if len(feeds):
        outcomes += g.validate(FEED_HEALTH, feeds, params)
    integrity = con.execute(_INTEGRITY_SQL).df()
    outcomes += g.validate(INTEGRITY, integrity, params)
    severity: dict[str, str] = {}
    warnings: list[Outcome] = []
    errors: list[Outcome] = []
    for o in outcomes:
        level = "fail" if o.suite == INTEGRITY else q.severity.get(o.column or "", "warn")
        severity[f"{o.suite}:{o.column}"] = level
        if not o.success:
            (errors if level == "fail" else warnings).append(o)
    feed_rows = [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in feeds.to_dict("records")
    ]
    return RunCheck(outcomes, severity, warnings, errors, feed_rows)


def describe(o: Outcome, feeds: Sequence[dict[str, Any]] = ()) -> str:
    where = ""
    if o.suite == FEED_HEALTH and o.failing:
        urls = [feeds[i]["feed_url"] for i in o.failing if i < len(feeds)]
        where = " (" + ", ".join(urls[:5]) + ("…" if len(urls) > 5 else "") + ")"
    return f"{o.suite}: {o.expectation}({o.column}) failed for {o.unexpected_count} row(s){where}"


# --- the suites as first written (`corpus-monitor dq init`) ----------------------------------


def _param(name: str) -> dict[str, str]:
    return {"$PARAMETER": name}


def default_suites() -> dict[str, list[Any]]:
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    share = "share of this run's new URLs of the feed"
    return {
        ARTICLES: [
            gxe.ExpectColumnValuesToNotBeNull(column="url"),
            gxe.ExpectColumnValuesToBeUnique(column="url"),
            gxe.ExpectColumnValuesToMatchRegex(
                column="url", regex=r"^https?://", notes="only http(s) pages are articles"
            ),
            gxe.ExpectColumnValuesToNotBeNull(column="article_id"),
            gxe.ExpectColumnValuesToBeUnique(column="article_id"),
            gxe.ExpectColumnValuesToNotBeNull(column="title"),
            gxe.ExpectColumnValueLengthsToBeBetween(
                column="title", min_value=1, max_value=_param("max_title_chars")
            ),
            gxe.ExpectColumnValueLengthsToBeBetween(
                column="text",
                min_value=_param("min_text_chars"),
                max_value=_param("max_text_chars"),
                notes="a page of cookie-banner or paywall text is not an article",
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="published_at",
                min_value=_param("oldest_published"),
                max_value=_param("latest_published"),
                notes="not in the future (beyond a tolerance), not absurdly old; "
                "a missing date passes",
            ),
            gxe.ExpectColumnValuesToBeInSet(
                column="language",
                value_set=_param("languages"),
                notes="applies only when [quality] languages is set; a missing language passes",
            ),
            gxe.ExpectColumnValuesToBeInSet(column="dedup_status", value_set=list(STATUSES)),
            gxe.ExpectColumnValuesToBeBetween(column="similarity", min_value=0, max_value=1),
            gxe.ExpectColumnValuesToBeBetween(column="containment", min_value=0, max_value=1),
            gxe.ExpectColumnValuesToNotBeNull(
                column="containment",
                row_condition=Column("dedup_status") == "partial_copy",
                notes="a partial copy says how much of it is found in its original",
            ),
            gxe.ExpectColumnValuesToBeNull(
                column="duplicate_of", row_condition=Column("dedup_status") == "unique"
            ),
            gxe.ExpectColumnValuesToNotBeNull(
                column="duplicate_of", row_condition=Column("dedup_status") != "unique"
            ),
        ],
        FEED_HEALTH: [
            gxe.ExpectColumnValuesToBeBetween(
                column="failed_share",
                min_value=0,
                max_value=_param("feed_max_failed_share"),
                notes=f"pages that failed to fetch, {share}",
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="empty_share",
                min_value=0,
                max_value=_param("feed_max_empty_share"),
                notes=f"pages with no article text, {share}",
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="duplicate_share",
                min_value=0,
                max_value=_param("feed_max_duplicate_share"),
                notes="duplicates among the feed's new articles",
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="length_ratio",
                min_value=_param("min_length_ratio"),
                max_value=_param("max_length_ratio"),
                notes="median text length this run / the feed's earlier median (no history passes)",
            ),
        ],
        INTEGRITY: [
            gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0, max_value=0)
            for c in (
                "duplicate_article_ids",
                "duplicate_urls",
                "unresolved_duplicate_of",
                "orphan_topic_rows",
                "orphan_topic_pair_rows",
                "orphan_feed_links",
            )
        ],
    }


def init_context(root: Path) -> list[str]:
    """Create the GX file context, the suites and their checkpoints where missing; never
    overwrite a suite (they are meant to be edited). Returns what was created."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.exceptions import DataContextError

    root.mkdir(parents=True, exist_ok=True)
    ctx = gx.get_context(mode="file", context_root_dir=str(root))
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    ctx.variables.save()
    created: list[str] = []
    try:
        source = ctx.data_sources.get("pandas")
    except KeyError:
        source = ctx.data_sources.add_pandas("pandas")
    for name, expectations in default_suites().items():
        try:
            suite = ctx.suites.get(name)
        except DataContextError:
            suite = ctx.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
            created.append(f"suite {name}")
        try:
            asset = source.get_asset(name)
        except LookupError:
            asset = source.add_dataframe_asset(name)  # type: ignore[attr-defined]
        try:
            definition = asset.get_batch_definition("whole")
        except KeyError:
            definition = asset.add_batch_definition_whole_dataframe("whole")
        try:
            validation = ctx.validation_definitions.get(name)
        except DataContextError:
            validation = ctx.validation_definitions.add(
                gx.ValidationDefinition(name=name, data=definition, suite=suite)
            )
        try:
            ctx.checkpoints.get(name)
        except DataContextError:
            ctx.checkpoints.add(
                gx.Checkpoint(
                    name=name,
                    validation_definitions=[validation],
                    actions=[],
                    result_format={"result_format": "COMPLETE"},
                )
            )
            created.append(f"checkpoint {name}")
    return created
