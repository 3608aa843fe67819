"""``make bench`` cannot rot: its quickest run, on tiny SQLite sites, end to end."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REQUIRE_SERVICES_ENV

ROOT = Path(__file__).resolve().parent.parent


def processes_mentioning(text: str) -> list[str]:
    """Command lines of running processes that contain ``text``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                line = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in line:
            found.append(f"{entry}: {line}")
    return found


@pytest.mark.slow
@pytest.mark.bench
def test_the_bench_runs_end_to_end_and_leaves_nothing_running(tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        if os.environ.get(REQUIRE_SERVICES_ENV):
            pytest.fail(f"wrk is missing (make wrk installs it); {REQUIRE_SERVICES_ENV} is set")
        pytest.skip("wrk is missing: make wrk (apt-get install wrk)")
    out, data = tmp_path / "results", tmp_path / "data"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--sizes",
            "20",
            "--backends",
            "sqlite",
            "--scenarios",
            "pages,readers,no-page-cache",
            "--duration",
            "1",
            "--rounds",
            "1",
            "--warmup",
            "0",
            "--connections",
            "4",
            "--out",
            str(out),
            "--data",
            str(data),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = f"{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, report
    assert not processes_mentioning(str(tmp_path)), processes_mentioning(str(tmp_path))
    latest = json.loads((out / "latest.json").read_text(encoding="utf-8"))
    cells = {(row["scenario"], row["site"], row["target"]): row for row in latest["rows"]}
    expected = {
        ("reference", "ceiling", "post"),
        ("reference", "limit", "post"),
        ("reference", "theme", "post"),
        ("no-page-cache", "sqlite-20", "post"),
    } | {
        (
            "readers" if target.startswith(("search", "sitemap")) else "pages",
            f"sqlite-{size}",
            target,
        )
        for size in (20,)
        for target in (
            *("post", "post-any", "index", "index-deep", "tag", "tag-deep", "api"),
            *("search", "sitemap", "sitemap-month"),
        )
    }
    assert set(cells) == expected, sorted(cells)
    for key, row in cells.items():
        assert row["errors"] == 0, (key, row)
        assert row["rps"] > 0 and row["cpu_ms_per_request"] > 0, (key, row)
        assert row["rps_ratio"] > 0 and row["rps_ratio_limit"] > 0, (key, row)
        assert row["p95_ms"] > 0, (key, row)  # wrk's Lua done() printed it
    assert latest["reference_serves_the_same_page"], report
    # The three references differ: the plain template serves the theme's very page.
    assert cells["reference", "limit", "post"]["rps"] > cells["reference", "theme", "post"]["rps"]
    goals = {check["goal"]: check for check in latest["goals"]}
    assert "SQLite post page, page cache off, 20 posts: >= 0.5x the ceiling" in goals, goals
    assert "sqlite search at 20 posts: p95 < 50 ms (one reader at a time)" in goals, goals
    assert any("Goals:" in line for line in result.stdout.splitlines()), report


@pytest.mark.bench
def test_stopped_twice_mid_run_the_bench_still_stops_every_server(tmp_path: Path) -> None:
    """``timeout`` passes its TERM on and people press Ctrl-C twice: the second signal
    used to cut the clean-up short and leave the servers running."""
    if shutil.which("wrk") is None:
        pytest.skip("wrk is missing: make wrk (apt-get install wrk)")
    command = [sys.executable, "-m", "bench.run", "--sizes", "20", "--backends", "sqlite"]
    command += ["--scenarios", "pages", "--duration", "30", "--warmup", "0"]
    command += ["--out", str(tmp_path / "results"), "--data", str(tmp_path / "data")]
    bench = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    said: list[str] = []
    try:
        assert bench.stdout is not None
        for line in bench.stdout:  # the first measurement has begun: servers are up
            said.append(line)
            if "Measuring" in line:
                break
        assert len(processes_mentioning(str(tmp_path))) >= 2, "".join(said)
        bench.send_signal(signal.SIGTERM)
        bench.send_signal(signal.SIGINT)
        said.extend(bench.stdout)
        bench.wait(timeout=60)
    finally:
        if bench.poll() is None:
            bench.kill()
    assert bench.returncode != 0, "".join(said)
    left = processes_mentioning(str(tmp_path))
    assert not left, f"{left}\n{''.join(said)}"


def test_no_two_bench_texts_are_equal_and_each_is_what_cms_renders() -> None:
    """The bench's posts share a few hundred bodies, each begun with a sentence of its own:
    the stored HTML must still be what cms renders of the stored Markdown."""
    import random

    from bench.dataset import make_body, own_text
    from cms.content.rendering import render_markdown

    rng = random.Random(7)
    body = make_body(rng)
    html = render_markdown(body)
    texts = [own_text(number, body, html) for number in (1, 2, 100_000)]
    assert len({text for _, text in texts}) == 3
    for own_body, own_html in texts:
        assert render_markdown(own_body) == own_html
