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
    ("seed_copies", "  of which copies of a seed"),
    ("quarantined", "quarantined (data quality)"),
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
    held = summary.get("quarantine") or []
    if held:
        lines += [
            "",
            "## Quarantined by a data-quality expectation",
            "",
            "| url | expectation | field | value |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {h['url']} | `{h['expectation']}` | {h['field']} | {_cell(h['value'])} |"
            for h in held[:100]
        ]
    warnings = summary.get("dq_warnings") or []
    if warnings:
        lines += ["", "## Data-quality warnings", ""] + [f"- {w}" for w in warnings]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    text = "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")
    return text[:80] + ("…" if len(text) > 80 else "")


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
    held = summary.get("quarantine") or []
    if held:
        lines.append("")
        lines.append("quarantined (expectation / field / url):")
        lines += [f"  {h['expectation']}  {h['field']}  {h['url']}" for h in held]
    for w in summary.get("dq_warnings") or []:
        lines.append(f"data-quality warning: {w}")
    return "\n".join(lines)
