"""Human-readable run summaries: the same text in the terminal and as a Prefect artifact."""

from __future__ import annotations

from typing import Any

COUNTS = [
    ("feeds_polled", "feeds polled"),
    ("feeds_not_modified", "feeds unchanged (304)"),
    ("feeds_failed", "feeds failed"),
    ("items_seen", "feed entries read"),
    ("new_urls", "new URLs"),
    ("pages_deferred", "new URLs left for the next run"),
    ("pages_fetched", "pages fetched"),
    ("page_failures", "pages failed"),
    ("extract_failures", "pages without article text"),
    ("articles_new", "new articles"),
    ("unique_articles", "  unique"),
    ("exact_duplicates", "  exact duplicates"),
    ("near_duplicates", "  near duplicates"),
    ("partial_copies", "  partial copies (excerpts, truncated pages)"),
    ("seed_copies", "  of which copies of a seed"),
    ("quarantined", "quarantined (data quality)"),
]


def speed(summary: dict[str, Any]) -> list[str]:
    """Articles per second, time per stage and the bottleneck, from the run's stage_seconds."""
    import json

    from flows.orchestration.pipeline import bottleneck

    raw = summary.get("stage_seconds")
    if not raw:
        return []
    stages = json.loads(raw) if isinstance(raw, str) else raw
    total = float(stages.get("seconds") or 0)
    articles = int(summary.get("articles_new") or 0)
    rate = f"{articles / total:.1f} articles/s" if total > 0 else "-"
    out = [f"{articles} new articles in {total:.1f} s: {rate}"]
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in stages.get("phases", {}).items())
    if phases:
        out.append(f"phases (wall): {phases}")
    busy = ", ".join(f"{k} {v:.1f} s" for k, v in stages.get("page_stages", {}).items())
    if busy:
        out.append(f"page stages (busy, overlapping): {busy}")
    if (slowest := bottleneck(stages)) is not None:
        out.append(f"bottleneck: {slowest[0]} ({slowest[1]:.1f} s)")
    return out


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
    if cost := speed(summary):
        lines += ["", "## Speed", ""] + [f"- {line}" for line in cost]
    attention = summary.get("feeds_attention") or []
    if attention:
        lines += [
            "",
            "## Feeds that need attention",
            "",
            "| feed | state | failures in a row | last error | next poll |",
            "|---|---|---:|---|---|",
        ]
        lines += [
            f"| {f['feed']} ({f['url']}) | {feed_state(f)} | {f['consecutive_failures']} | "
            f"{_cell(f['last_error'])} | {f['next_poll'] or ''} |"
            for f in attention
        ]
    return "\n".join(lines) + "\n"


def feed_state(f: dict[str, Any]) -> str:
    """A feed-health row's state in words (validators that hide changes included)."""
    state = str(f["state"])
    if f.get("validators_unreliable"):
        state += ", answers 304 while changing: always fetched in full"
    return state


def needs_attention(health: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        f
        for f in health
        if f["state"] in ("failing", "backing_off") or f.get("validators_unreliable")
    ]


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
    if cost := speed(summary):
        lines.append("")
        lines += cost
    attention = summary.get("feeds_attention") or []
    if attention:
        lines.append("")
        lines.append("feeds that need attention (state / failures in a row / next poll / url):")
        lines += [
            f"  {feed_state(f)}  {f['consecutive_failures']}  {f['next_poll'] or '-'}  {f['url']}"
            + (f"  ({f['last_error']})" if f["last_error"] else "")
            for f in attention
        ]
    return "\n".join(lines)


# --- topic report: mentions over time, unique stories apart from copies -------------------------


def topic_rows(
    con: Any, topics: list[str] | None, since: Any | None, by: str = "day"
) -> list[dict[str, Any]]:
    """Per period (day or ISO week, by its Monday) and topic, from the topic_daily view."""
    period = "day" if by == "day" else "date_trunc('week', day)::DATE"
    cur = con.execute(
        f"""
        SELECT {period} AS period, topic, sum(articles)::BIGINT AS articles,
               sum(unique_stories)::BIGINT AS unique_stories, sum(copies)::BIGINT AS copies,
               sum(mentions)::BIGINT AS mentions
        FROM topic_daily
        WHERE (? IS NULL OR list_contains(?, topic)) AND (? IS NULL OR day >= ?)
        GROUP BY ALL ORDER BY period, topic
        """,
        [topics, topics or [], since, since],
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def topic_chart_svg(rows: list[dict[str, Any]], title: str) -> str:
    """One panel per topic: bars of articles, originals (solid) with copies stacked on top (pale),
    and the mentions as a line on its own scale. Plain SVG, no plotting library."""
    from html import escape

    topics = sorted({r["topic"] for r in rows})
    periods = sorted({r["period"] for r in rows})
    width, panel_h, left, top, bottom = 900, 170, 60, 40, 40
    height = top + len(topics) * (panel_h + bottom) + 10
    by = {(r["topic"], r["period"]): r for r in rows}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="22" font-size="15" font-weight="bold">{escape(title)}</text>',
    ]
    slot = (width - left - 20) / max(len(periods), 1)
    for i, topic in enumerate(topics):
        y0 = top + i * (panel_h + bottom)
        colour = _COLOURS[i % len(_COLOURS)]
        cells = [by.get((topic, p), {}) for p in periods]
        peak = max([c.get("articles", 0) for c in cells] + [1])
        peak_m = max([c.get("mentions", 0) for c in cells] + [1])
        out.append(
            f'<text x="{left}" y="{y0 + 12}" font-weight="bold" fill="{colour}">{escape(topic)}'
            f" (bars: articles, solid: originals, pale: copies; line: mentions, peak {peak_m})"
            "</text>"
        )
        base = y0 + panel_h
        out.append(f'<line x1="{left}" y1="{base}" x2="{width - 20}" y2="{base}" stroke="#999"/>')
        out.append(f'<text x="{left - 6}" y="{base}" text-anchor="end">0</text>')
        out.append(f'<text x="{left - 6}" y="{y0 + 24}" text-anchor="end">{peak}</text>')
        points = []
        for j, c in enumerate(cells):
            x = left + j * slot
            scale = (panel_h - 24) / peak
            copies = c.get("copies", 0)
            stories = c.get("articles", 0) - copies  # originals: the articles that are no copy
            hs, hc = stories * scale, copies * scale
            w = max(slot * 0.7, 1)
            out.append(
                f'<rect x="{x:.1f}" y="{base - hs:.1f}" width="{w:.1f}" height="{hs:.1f}" '
                f'fill="{colour}"><title>{periods[j]}: {stories} originals</title></rect>'
            )
            if hc:
                out.append(
                    f'<rect x="{x:.1f}" y="{base - hs - hc:.1f}" width="{w:.1f}" '
                    f'height="{hc:.1f}" fill="{colour}" fill-opacity="0.35">'
                    f"<title>{periods[j]}: {copies} copies</title></rect>"
                )
            my = base - c.get("mentions", 0) * (panel_h - 24) / peak_m
            points.append(f"{x + w / 2:.1f},{my:.1f}")
        out.append(
            f'<polyline points="{" ".join(points)}" fill="none" stroke="#333" stroke-width="1.2"/>'
        )
        for j in sorted({0, len(periods) - 1, len(periods) // 2}):
            if periods:
                x = left + j * slot
                out.append(f'<text x="{x:.1f}" y="{base + 14}">{periods[j]}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def topic_summary_markdown(rows: list[dict[str, Any]]) -> str:
    """Per topic over the rows' period: articles, originals, copies, mentions, busiest day."""
    if not rows:
        return "# Topics\n\nNo topic mentions in the last 14 days.\n"
    lines = [
        "# Topics, last 14 days",
        "",
        "| topic | articles | originals | copies | mentions | busiest day |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for topic in sorted({r["topic"] for r in rows}):
        mine = [r for r in rows if r["topic"] == topic]
        busiest = max(mine, key=lambda r: (r["articles"], r["period"]))
        n = sum(r["articles"] for r in mine)
        copies = sum(r["copies"] for r in mine)
        lines.append(
            f"| {topic} | {n} | {n - copies} | {copies} | {sum(r['mentions'] for r in mine)} "
            f"| {busiest['period']} ({busiest['articles']}) |"
        )
    return "\n".join(lines) + "\n"
