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
    (tmp_path / "seeds").mkdir(parents=True, exist_ok=True)
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


def _cli(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flows", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_cli_exits_2_with_one_line(tmp_path: Path) -> None:
    cfg = write(tmp_path, GOOD.replace("timeout_seconds = 20", 'timeout_seconds = "x"'))
    out = _cli("run", "--config", str(cfg), cwd=tmp_path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "network.timeout_seconds" in lines[0]
    assert not (tmp_path / ".prefect").exists()  # stopped before Prefect started


def test_a_missing_seeds_folder_stops_a_run_before_prefect_starts(tmp_path: Path) -> None:
    from flows.config import check_seeds_folder

    text = GOOD.replace('path = "seeds"', 'path = "no-such-seeds"')
    cfg = write(tmp_path, text.replace("[[feeds]]", '[schedule]\nevery = "1h"\n[[feeds]]'))
    settings = load_settings(cfg)  # reading commands (query, status) do not need the seeds
    with pytest.raises(ConfigError, match=r"toml: seeds\.path: .*no-such-seeds does not exist"):
        check_seeds_folder(settings, cfg)
    (tmp_path / "a-file").write_text("not a folder")
    other = write(tmp_path / "other", GOOD.replace('path = "seeds"', 'path = "../a-file"'))
    with pytest.raises(ConfigError, match=r"seeds\.path: .*a-file is not a folder"):
        check_seeds_folder(load_settings(other), other)
    for command in ("run", "serve"):
        out = _cli(command, "--config", str(cfg), cwd=tmp_path)
        assert out.returncode == 2 and out.stdout == ""
        (line,) = out.stderr.strip().splitlines()  # one line: no Prefect output, no traceback
        assert line.startswith("corpus-monitor: ") and "seeds.path" in line, line


def test_an_error_inside_a_run_exits_with_the_error_and_nothing_after_it(
    tmp_path: Path,
) -> None:
    """A seed that is not UTF-8 fails the run inside Prefect: the process ends with the error,
    and nothing after it (no `nanobind: leaked ...` report of objects the run kept)."""
    # a closed loopback port (refused by the address check anyway): nothing leaves the machine
    cfg = write(tmp_path, GOOD.replace("https://example.org/rss.xml", "http://127.0.0.1:9/rss"))
    (tmp_path / "seeds" / "bad.txt").write_bytes(b"\xff\xfe not UTF-8")
    out = _cli("run", "--config", str(cfg), cwd=tmp_path, timeout=180)
    assert out.returncode == 2
    assert "nanobind" not in out.stderr and "leaked" not in out.stderr, out.stderr[-2000:]
    mine = [ln for ln in out.stderr.splitlines() if ln.startswith("corpus-monitor: ")]
    assert len(mine) == 1 and "bad.txt: seed is not UTF-8" in mine[0]
    after = out.stderr.split(mine[0], 1)[1].strip().splitlines()
    assert all("Stopping temporary server" in ln for ln in after), after


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
