"""Human-readable run summaries: the same text in the terminal and as a Prefect artifact."""

from __future__ import annotations

from typing import Any

COUNTS = [
    ("feeds_polled", "feeds polled"),
    ("feeds_not_modified", "feeds unchanged (304)"),
    ("feeds_failed", "feeds failed"),
    ("items_seen", "feed entries read"),
    ("new_urls", "new URLs"),
    ("pages_fetched", "pages fetched"),
    ("page_failures", "pages failed"),
    ("extract_failures", "pages without article text"),
    ("articles_new", "new articles"),
    ("unique_articles", "  unique"),
    ("exact_duplicates", "  exact duplicates"),
    ("near_duplicates", "  near duplicates"),
]


def run_summary_markdown(summary: dict[str, Any]) -> str:
    lines = [
        f"# Run `{summary.get('flow_run_name') or summary.get('run_id')}`: {summary.get('status')}",
        "",
        "| | count |",
        "|---|---:|",
    ]
    lines += [f"| {label.strip()} | {summary.get(key, 0)} |" for key, label in COUNTS]
    failures = summary.get("failures") or []
    if failures:
        lines += [
            "",
            "## Failures",
            "",
            "| stage | reason | count | example |",
            "|---|---|---:|---|",
        ]
        lines += [
            f"| {f['stage']} | `{f['reason']}` | {f['n']} | {f['example']} |" for f in failures
        ]
    return "\n".join(lines) + "\n"


def run_summary_text(summary: dict[str, Any]) -> str:
    width = max(len(label) for _, label in COUNTS)
    lines = [f"{label:<{width}}  {summary.get(key, 0):>6}" for key, label in COUNTS]
    failures = summary.get("failures") or []
    if failures:
        lines.append("")
        lines.append("failures (stage / reason / count / example):")
        lines += [
            f"  {f['stage']:<8} {f['reason']:<20} {f['n']:>4}  {f['example']}" for f in failures
        ]
    return "\n".join(lines)
