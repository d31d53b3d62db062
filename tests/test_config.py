"""A bad config stops the run before it starts: exit code 2 and one line naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flows.config import load_settings, parse_duration
from flows.errors import ConfigError

GOOD = """
[warehouse]
path = "warehouse/corpus.duckdb"
[seeds]
path = "seeds"
[network]
allow_private_addresses = false
timeout_seconds = 20
max_page_bytes = 5_000_000
user_agent = "corpus-monitor/0.1 (+mailto:news@example.org)"
[[feeds]]
url = "https://example.org/rss.xml"
name = "example"
[topics]
musk = ["Elon Musk", "Musk"]
russia = ["Russia", "Russian", "Kremlin", "Moscow"]
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "corpus-monitor.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_documented_example_loads(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, GOOD))
    assert s.feeds[0].url == "https://example.org/rss.xml"
    assert s.feeds[0].label == "example"
    assert s.network.max_page_bytes == 5_000_000
    assert s.topics["russia"] == ["Russia", "Russian", "Kremlin", "Moscow"]
    # relative paths are relative to the config file's folder
    assert s.warehouse.path == tmp_path / "warehouse" / "corpus.duckdb"
    assert s.seeds.path == tmp_path / "seeds"


def test_db_option_overrides_warehouse(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, GOOD), db=tmp_path / "other.duckdb")
    assert s.warehouse.path == tmp_path / "other.duckdb"


@pytest.mark.parametrize(
    ("edit", "names"),
    [
        (
            ('url = "https://example.org/rss.xml"', 'url = "htp://example.org/rss.xml"'),
            "feeds[0].url",
        ),
        (
            ('url = "https://example.org/rss.xml"', 'url = "ftp://example.org/rss.xml"'),
            "feeds[0].url",
        ),
        (("timeout_seconds = 20", 'timeout_seconds = "soon"'), "network.timeout_seconds"),
        (("timeout_seconds = 20", "timeout_seconds = -1"), "network.timeout_seconds"),
        (
            ("allow_private_addresses = false", "allow_private_adresses = false"),
            "network.allow_private_adresses",
        ),
        (("max_page_bytes = 5_000_000", "max_page_bytes = [1]"), "network.max_page_bytes"),
        (('musk = ["Elon Musk", "Musk"]', "musk = []"), "topics"),
        (("[seeds]", "[seed]"), "seed"),
        (
            ("timeout_seconds = 20", 'timeout_seconds = 20\nallowed_hosts = ["http://x/"]'),
            "network.allowed_hosts",
        ),
        (
            ("timeout_seconds = 20", 'timeout_seconds = 20\nresolve = { "a.test" = "nowhere" }'),
            "network.resolve",
        ),
        (
            ("[[feeds]]", '[schedule]\nevery = "1h"\ntimezone = "Mars/Olympus"\n[[feeds]]'),
            "schedule.timezone",
        ),
        (("[seeds]", '[pipeline]\ntask_runner = "spark"\n[seeds]'), "pipeline.task_runner"),
        (
            ("[seeds]", '[pipeline]\ntask_runner = "dask"\ndask_address = "10.0.0.5"\n[seeds]'),
            "pipeline.dask_address",
        ),
        (
            (
                "[seeds]",
                '[pipeline]\ntask_runner = "dask"\ndask_address = "http://h:8786"\n[seeds]',
            ),
            "pipeline.dask_address",
        ),
        (
            ("[seeds]", '[pipeline]\ndask_address = "tcp://10.0.0.5:8786"\n[seeds]'),
            'pipeline.dask_address: only read with task_runner = "dask"',
        ),
        (
            ("[seeds]", '[pipeline]\ntask_runner = "dask"\ndask_workers = -1\n[seeds]'),
            "pipeline.dask_workers",
        ),
        (
            (
                "[seeds]",
                '[pipeline]\ntask_runner = "dask"\ndask_address = "tcp://h:8786"\n'
                "dask_workers = 4\n[seeds]",
            ),
            "pipeline.dask_workers",
        ),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, edit: tuple[str, str], names: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, GOOD.replace(*edit)))
    message = str(err.value)
    assert names in message
    assert "\n" not in message


def test_unknown_key_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"network\.proxy: unknown key"):
        load_settings(write(tmp_path, GOOD.replace("[network]", '[network]\nproxy = "x"')))


def test_durations() -> None:
    assert parse_duration("15m") == 900
    assert parse_duration("2h") == 7200
    assert parse_duration("1d") == 86400
    assert parse_duration("30s") == 30
    for bad in ("15", "fast", "5w", "-1m", "0s", "١٥m"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_duration_key_in_config(tmp_path: Path) -> None:
    cfg = GOOD.replace('path = "warehouse/corpus.duckdb"', 'path = "w.duckdb"\nbusy_wait = "2m"')
    assert load_settings(write(tmp_path, cfg)).warehouse.busy_wait == 120
    bad = GOOD.replace(
        'path = "warehouse/corpus.duckdb"', 'path = "w.duckdb"\nbusy_wait = "2 weeks"'
    )
    with pytest.raises(ConfigError, match=r"warehouse\.busy_wait: .*duration"):
        load_settings(write(tmp_path, bad))


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[network\n"))
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flows", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_cli_exits_2_with_one_line(tmp_path: Path) -> None:
    cfg = write(tmp_path, GOOD.replace("timeout_seconds = 20", 'timeout_seconds = "x"'))
    out = _cli("run", "--config", str(cfg), cwd=tmp_path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "network.timeout_seconds" in lines[0]
    assert not (tmp_path / ".prefect").exists()  # stopped before Prefect started


def test_cli_missing_config_exits_2(tmp_path: Path) -> None:
    out = _cli("run", "--config", str(tmp_path / "missing.toml"), cwd=tmp_path)
    assert out.returncode == 2
    assert "missing.toml: config file not found" in out.stderr


def test_the_example_config_is_valid_and_lists_every_network_key() -> None:
    from flows.config import CadenceSettings, NetworkSettings

    example = Path(__file__).parent.parent / "corpus-monitor.example.toml"
    settings = load_settings(example)
    assert settings.network.contact and settings.network.contact in settings.network.agent
    text = example.read_text(encoding="utf-8")
    missing = [k for k in NetworkSettings.model_fields if f"\n{k} = " not in text]
    assert missing == []
    missing = [k for k in CadenceSettings.model_fields if f"\n{k} = " not in text]
    assert missing == []
    assert settings.groups["world"].topics == ["russia", "ukraine"]
