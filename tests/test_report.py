"""Topic analytics on a warehouse filled by a real flow run: the views and `report`."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from flows.demo.server import SiteServer
from flows.orchestration.monitor import monitor
from flows.sources.urls import article_id

pytestmark = pytest.mark.clock  # also run with the clock a year ahead

RUSSIAN_PAGE = """<!DOCTYPE html>
<html lang="ru"><head><meta charset="utf-8"><title>Кремль ответил Маску</title>
<meta property="article:published_time" content="{{DATE -1 09:00 iso}}"></head>
<body><article><h1>Кремль ответил Маску</h1>
<p>В Кремле в пятницу прокомментировали заявление Илона Маска о переговорах. Представитель
Кремля сказал, что Россия открыта к диалогу, но не будет обсуждать условия через социальные
сети.</p>
<p>Ранее Маск написал, что войну можно остановить за несколько недель. Эксперты в Москве
отнеслись к этому скептически и напомнили, что Путин уже отвергал подобные предложения.</p>
<p>Экономисты отмечают, что санкции продолжают влиять на бюджет, а курс рубля остаётся
нестабильным на фоне снижения цен на нефть и сокращения экспорта.</p>
</article></body></html>
"""
RUSSIAN_ITEM = """    <item>
      <title>Кремль ответил Маску</title>
      <link>{{BASE_URL}}/articles/ru-kremlin-musk.html</link>
      <pubDate>{{DATE -1 09:00 rfc822}}</pubDate>
    </item>
"""


@pytest.mark.e2e
def test_views_and_report_on_the_demo_warehouse(
    prefect, demo_config: Path, site: SiteServer, tmp_path: Path
) -> None:
    # a Russian-language article: the default topics' Cyrillic aliases count
    (site.root / "articles" / "ru-kremlin-musk.html").write_text(RUSSIAN_PAGE, encoding="utf-8")
    feed = site.root / "feeds" / "meridian.xml"
    feed.write_text(
        feed.read_text("utf-8").replace("  </channel>", RUSSIAN_ITEM + "  </channel>"), "utf-8"
    )
    monitor(config=str(demo_config))
    db = tmp_path / "corpus.duckdb"
    con = duckdb.connect(str(db), read_only=True)
    # topic_daily agrees with a count straight from the tables
    direct = dict(
        ((str(d), t), (n, m))
        for d, t, n, m in con.execute(
            "SELECT CAST(timezone('UTC', coalesce(a.published_at, a.first_seen_at)) AS DATE), "
            "t.topic, count(*), sum(t.mentions) FROM articles a JOIN article_topics t "
            "USING (article_id) GROUP BY ALL"
        ).fetchall()
    )
    view = dict(
        ((str(d), t), (n, m))
        for d, t, n, m in con.execute(
            "SELECT day, topic, articles, mentions FROM topic_daily"
        ).fetchall()
    )
    assert view == direct and len(view) > 20
    ru = article_id(site.url("/articles/ru-kremlin-musk.html"))
    ru_topics = dict(
        con.execute(
            "SELECT topic, mentions FROM article_topics WHERE article_id = ?", [ru]
        ).fetchall()
    )
    # Маску/Маска/Маск (title and text), Кремль/Кремля/Россия, Путин
    assert ru_topics["musk"] >= 3 and ru_topics["russia"] >= 3 and ru_topics["putin"] == 1
    ((together,),) = con.execute(
        "SELECT sentences_together FROM article_topic_pairs WHERE article_id = ? "
        "AND topic_a = 'musk' AND topic_b = 'russia'",
        [ru],
    ).fetchall()
    assert together >= 1  # "Кремль ответил Маску"
    # the syndicated copy counts as a copy, not as a new story
    copy = article_id(site.url("/articles/tesla-berlin-output-syndicated.html"))
    ((day,),) = con.execute(
        "SELECT CAST(timezone('UTC', coalesce(published_at, first_seen_at)) AS DATE) "
        "FROM articles WHERE article_id = ?",
        [copy],
    ).fetchall()
    ((copies, stories, articles),) = con.execute(
        "SELECT copies, unique_stories, articles FROM topic_daily WHERE day = ? AND topic = 'tesla'",
        [day],
    ).fetchall()
    assert copies >= 1 and stories + copies == articles
    total_stories = con.execute(
        "SELECT sum(unique_stories) FROM topic_daily WHERE topic = 'tesla'"
    ).fetchall()[0][0]
    total_articles = con.execute(
        "SELECT count(*) FROM article_topics WHERE topic = 'tesla'"
    ).fetchall()[0][0]
    tesla_copies = con.execute(
        "SELECT count(*) FROM articles JOIN article_topics USING (article_id) "
        "WHERE topic = 'tesla' AND dedup_status <> 'unique'"
    ).fetchall()[0][0]
    assert tesla_copies >= 1 and total_stories == total_articles - tesla_copies
    # co-mentions in one sentence come from the pairs recorded at load time
    assert (
        con.execute(
            "SELECT sum(articles_same_sentence) FROM co_mentions WHERE topic_a = 'musk' "
            "AND topic_b = 'russia'"
        ).fetchall()[0][0]
        >= 1
    )
    for view_name in ("topic_by_source", "topic_share", "seed_related", "feed_health"):
        con.execute(f"SELECT * FROM {view_name}").fetchall()
    assert con.execute("SELECT count(*) FROM feed_health").fetchall() == [(4,)]
    # every example query of warehouse/README.md runs on a warehouse a real run filled
    import re

    readme = (Path(__file__).resolve().parent.parent / "warehouse" / "README.md").read_text("utf-8")
    ran = 0
    for block in re.findall(r"```sql\n(.*?)```", readme, re.S):
        for statement in block.split(";"):
            body = "\n".join(
                ln for ln in statement.splitlines() if not ln.strip().startswith("--")
            ).strip()
            if body:
                con.execute(body).fetchall()
                ran += 1
    assert ran >= 12
    con.close()

    chart = tmp_path / "out" / "topics.svg"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "flows",
            "report",
            "--topics",
            "musk,russia",
            "--db",
            str(db),
            "--chart",
            str(chart),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    rows = [json.loads(x) for x in out.stdout.splitlines()]
    assert {r["topic"] for r in rows} == {"musk", "russia"}
    assert {(r["period"], r["topic"]): r["articles"] for r in rows} == {
        k: v[0] for k, v in direct.items() if k[1] in ("musk", "russia")
    }
    svg = chart.read_text("utf-8")
    assert svg.startswith("<svg") and svg.count("<polyline") == 2
    assert svg.count("<rect") > len(rows)  # a bar per day and topic, plus the background
    weekly = subprocess.run(
        [
            sys.executable,
            "-m",
            "flows",
            "report",
            "--topics",
            "musk",
            "--by",
            "week",
            "--db",
            str(db),
            "--chart",
            str(chart),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    weeks = [json.loads(x) for x in weekly.stdout.splitlines()]
    assert sum(w["articles"] for w in weeks) == sum(
        r["articles"] for r in rows if r["topic"] == "musk"
    )


@pytest.mark.e2e
def test_export_shell_retag_and_topic_artifact(
    prefect, demo_config: Path, site: SiteServer, tmp_path: Path
) -> None:
    import re

    db = tmp_path / "corpus.duckdb"
    out_dir = tmp_path / "parquet"
    demo_config.write_text(
        demo_config.read_text() + f'[export]\ndir = "{out_dir}"\n', encoding="utf-8"
    )
    summary = monitor(config=str(demo_config))
    # every run rewrites the Parquet files after its load
    assert duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{out_dir / 'articles.parquet'}')"
    ).fetchall() == [(summary["articles_new"],)]
    daily = duckdb.sql(f"SELECT sum(articles) FROM read_parquet('{out_dir}/topic_daily.parquet')")
    assert daily.fetchall()[0][0] > 0

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    async def topics_artifact() -> str | None:
        from uuid import UUID

        async with get_client() as client:
            arts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=["corpus-monitor-topics"]),
                    flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(summary["run_id"])]),
                )
            )
            return arts[0].data if arts else None

    import asyncio

    md = asyncio.run(topics_artifact())
    assert md is not None and "| musk |" in md and "| russia |" in md
    # the window is the last 14 days: the site dates Musk stories inside it (a week old) and
    # outside it (five weeks and more); the artifact counts the ones inside, and only those
    since = (datetime.now(UTC) - timedelta(days=14)).date()
    with duckdb.connect(str(db), read_only=True) as con:
        inside, outside = con.execute(
            "SELECT sum(articles) FILTER (day >= ?), sum(articles) FILTER (day < ?) "
            "FROM topic_daily WHERE topic = 'musk'",
            [since, since],
        ).fetchone()
    assert inside >= 1 and outside >= 3
    (shown,) = re.findall(r"^\| musk \| (\d+) \|", md, re.M)
    assert int(shown) == inside

    # a manual export, and the shell
    cli = [sys.executable, "-m", "flows"]
    manual = subprocess.run(
        [*cli, "export", str(tmp_path / "manual"), "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert manual.returncode == 0, manual.stderr
    assert (tmp_path / "manual" / "co_mentions.parquet").is_file()
    shell = subprocess.run(
        [*cli, "shell", "--db", str(db)],
        input="SELECT count(*) AS n\nFROM articles;\nSELECT broken;\nDELETE FROM articles;\n.quit\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shell.returncode == 0 and f"│ {summary['articles_new']} " in shell.stdout
    assert "error:" in shell.stderr  # the bad statement and the write on a read-only warehouse
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM articles").fetchall() == [
            (summary["articles_new"],)
        ]

    # retag with other topics: the counts follow the config
    cfg = tmp_path / "retag.toml"
    cfg.write_text(
        f'[warehouse]\npath = "{db}"\n[topics]\nberlin = ["Berlin"]\nmusk = ["Musk"]\n',
        encoding="utf-8",
    )
    done = subprocess.run(
        [*cli, "retag", "--config", str(cfg)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    with duckdb.connect(str(db), read_only=True) as con:
        texts = con.execute(
            "SELECT article_id, coalesce(title, '') || '\n' || text FROM articles"
        ).fetchall()
        tagged = dict(
            con.execute("SELECT topic, count(*) FROM article_topics GROUP BY 1").fetchall()
        )
    expect_berlin = sum(
        1 for _, t in texts if re.search(r"(?<![\w.])Berlin(?:['’]s)?(?!\w)", t, re.I)
    )
    assert tagged == {"berlin": expect_berlin, "musk": tagged["musk"]} and expect_berlin > 0
