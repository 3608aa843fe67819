"""``make bench``: how fast cms serves its pages, as ratios to a bare aiohttp ceiling.

Builds bench sites (SQLite and PostgreSQL, at each size), starts ``cms serve`` on each
and the reference server (``bench/reference_server.py``) as real subprocesses, pinned to
one core while ``wrk`` runs on the other, then drives every (site, target) cell and the
reference for a fixed time with a fixed number of connections, interleaved over several
rounds so the noise of a shared machine falls on all of them alike. Per cell: req/s, p50
and p99 latency, server CPU milliseconds per request (utime+stime of the server's process
tree, from /proc) and peak RSS (VmHWM), each with its ratio to the reference; the median
over rounds is reported. Results go to ``bench/results/`` as JSON and a PNG chart.

Every process started here is stopped in ``finally`` (and on SIGTERM / SIGINT / SIGHUP).

A scenario is a set of targets plus an optional background load running while they are
measured (see ``SCENARIOS``): e.g. "post page p99 while 20 uploads are processed" adds a
``Background`` that starts the uploads and stops them.

    python -m bench.run [--quick] [--sizes 1000,100000] [--backends sqlite,postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- what is measured -----------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One page of a bench site: ``path(site, urls)`` gives its path; ``script(site)``, when
    given, is a wrk Lua script that chooses the path of each request itself."""

    name: str
    path: Callable[[Any, dict[str, str]], str]
    script: Callable[[Any], str] | None = None
    #: Connections for this target instead of ``--connections``: 1 measures how long one
    #: reader waits (a latency goal), not how a queue of them grows.
    connections: int | None = None


def _any_post_script(site: Any) -> str:
    # Every request a post drawn at random from the whole site: a long tail that the page
    # cache cannot hold at 100,000 posts (the post target is one popular post).
    return (
        "math.randomseed(20240601)\n"
        "request = function()\n"
        f'  return wrk.format(nil, "/posts/post-" .. math.random(1, {site.size}))\n'
        "end\n"
    )


#: What the search target asks, in turn: every bench post holds every word of the sample
#: text, so these are the worst cases of a real site (a word, phrase or prefix found in
#: each of 100,000 posts), beside the rare ones (a post's number, from its title and the
#: sentence of its own its text begins with, "Entry N begins here.").
SEARCHES = (
    "garden",
    '"garden river"',
    "gard*",
    "labor*",  # laboris, labore, laborum: three words in every post
    '"post number"',
    "winter 5000*",  # 5000, 50000 to 50009: rare words under a prefix
    "{middle}",
    "kitchen {middle}",
)


def _search_script(site: Any) -> str:
    queries = [
        "/search?" + urllib.parse.urlencode({"q": query.format(middle=site.size // 2)})
        for query in SEARCHES
    ]
    listed = ", ".join(f'"{query}"' for query in queries)
    return (
        f"local queries = {{{listed}}}\n"
        "local turn = 0\n"
        "request = function()\n"
        "  turn = turn % #queries + 1\n"
        "  return wrk.format(nil, queries[turn])\n"
        "end\n"
    )


def _month_sitemap(site: Any, urls: dict[str, str]) -> str:
    # The month of the site's middle post: one a minute, so a full month of 44,640 posts
    # at 100,000 (a child sitemap near the protocol's 50,000).
    from bench.dataset import published_at

    when = published_at(max(1, site.size // 2))
    return f"/sitemaps/posts-{when.year:04d}-{when.month:02d}.xml"


#: Printed by wrk at the end of every run (a Lua ``done``): its 95th percentile, which
#: ``--latency`` does not print.
_P95_SCRIPT = (
    "done = function(summary, latency, requests)\n"
    '  io.write(string.format("p95_us %d\\n", latency:percentile(95)))\n'
    "end\n"
)

TARGETS = {
    "post": Target("post", lambda site, urls: f"/posts/{site.post_slug}"),
    "index": Target("index", lambda site, urls: "/"),
    "index-deep": Target("index-deep", lambda site, urls: urls["deep"]),
    # The page of the site's most popular tag (about half of the posts carry it).
    "tag": Target("tag", lambda site, urls: f"/tags/{site.tag_slug}"),
    "tag-deep": Target("tag-deep", lambda site, urls: urls["tag-deep"]),
    "api": Target("api", lambda site, urls: "/api/posts"),
    "post-any": Target("post-any", lambda site, urls: "/posts/", script=_any_post_script),
    # One reader at a time: the goals are how long a search or a sitemap takes.
    "search": Target("search", lambda site, urls: "/search", script=_search_script, connections=1),
    "sitemap": Target("sitemap", lambda site, urls: "/sitemap.xml", connections=1),
    "sitemap-month": Target("sitemap-month", _month_sitemap, connections=1),
}


class Background:
    """A load that runs while a scenario's targets are measured (none by default)."""

    def start(self, site: Any, base_url: str) -> None:
        """Start the load against the server of ``site`` at ``base_url``."""

    def stop(self) -> None:
        """Stop it; called in ``finally``."""


@dataclass(frozen=True)
class Scenario:
    """Targets measured on every bench site, with an optional background load."""

    name: str
    targets: tuple[str, ...]
    background: Callable[[], Background] | None = None
    #: Measured on the first (smallest SQLite) site only: a slow background needs one.
    first_site_only: bool = False
    #: Settings (environment variables) of a server of its own for this scenario.
    server_env: tuple[tuple[str, str], ...] = ()


def _upload_load() -> Background:
    from bench.uploads import UploadLoad

    return UploadLoad()  # type: ignore[return-value]


SCENARIOS = [
    Scenario("pages", ("post", "post-any", "index", "index-deep", "tag", "tag-deep", "api")),
    # What readers and crawlers ask besides pages, each measured as one reader waits.
    Scenario("readers", ("search", "sitemap", "sitemap-month")),
    # The post page while 20 uploads of 4000x3000 JPEGs are processed (bench/uploads.py).
    Scenario("uploads", ("post",), background=_upload_load, first_site_only=True),
    # The post page rendered on every request: a server whose page cache is off.
    Scenario(
        "no-page-cache",
        ("post",),
        first_site_only=True,
        server_env=(("CMS_SERVER__PAGE_CACHE_MB", "0"),),
    ),
]


# -- processes --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def pinned(command: list[str], core: int | None) -> list[str]:
    """``command`` under ``taskset -c CORE`` when there is a core to pin to."""
    if core is None or shutil.which("taskset") is None:
        return command
    return ["taskset", "-c", str(core), *command]


@dataclass
class Server:
    """A server subprocess in its own process group, so the whole group is stopped."""

    name: str
    command: list[str]
    cwd: Path
    port: int
    health: str
    log: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> None:
        with self.log.open("ab") as log, _signals_held():
            self.process = subprocess.Popen(  # noqa: S603 (our own command line)
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: see {self.log}")
            with contextlib.suppress(OSError):
                status, _ = fetch(self.url + self.health, timeout=2)
                if status == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer {self.health} in {timeout:.0f} s")

    def pids(self) -> list[int]:
        """The server's process and every descendant (workers, threads are inside)."""
        if self.process is None or self.process.poll() is not None:
            return []
        found, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            with contextlib.suppress(OSError):
                for task in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{task}/children") as children:
                        todo.extend(int(child) for child in children.read().split())
        return found

    def cpu_ticks(self) -> int:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total

    def peak_rss_kib(self) -> int:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
        return total

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def fetch(url: str, timeout: float = 10) -> tuple[int, str]:
    request = urllib.request.Request(url)  # noqa: S310 (always http://127.0.0.1)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


# -- wrk ----------------------------------------------------------------------------------------


@dataclass
class Sample:
    requests: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    cpu_ms_per_request: float


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _latency(output: str, percentile: str) -> float:
    match = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    return float(match.group(1)) * _UNITS[match.group(2)] if match else float("nan")


def run_wrk(
    url: str, *, duration: float, connections: int, core: int | None, script: Path | None = None
) -> tuple[int, float, float, float, float, int]:
    command = pinned(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            "--latency",
            "--timeout",
            "10s",
            *(["--script", str(script)] if script is not None else []),
            url,
        ],
        core,
    )
    # Popen, killed in ``finally``: a stop signal arriving while wrk runs must not leave it
    # (nor one arriving while it starts: then the stop waits until ``process`` is known).
    process: subprocess.Popen[str] | None = None
    try:
        with _signals_held():
            process = subprocess.Popen(  # noqa: S603
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        out, err = process.communicate(timeout=120)
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed on {url}: {err or out}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p95 = re.search(r"^p95_us (\d+)$", out, re.MULTILINE)
    p95_ms = int(p95.group(1)) / 1000 if p95 else float("nan")
    errors = 0
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(match.group(1))
    if match := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    ):
        errors += sum(int(n) for n in match.groups())
    return requests, rps, _latency(out, "50"), p95_ms, _latency(out, "99"), errors


def measure(server: Server, cell: Cell, args: argparse.Namespace) -> Sample:
    before = server.cpu_ticks()
    requests, rps, p50, p95, p99, errors = run_wrk(
        cell.url,
        duration=args.duration,
        connections=cell.connections or args.connections,
        core=args.client_core,
        script=cell.script,
    )
    used_ms = (server.cpu_ticks() - before) * 1000 / CLK_TCK
    return Sample(requests, rps, p50, p95, p99, errors, used_ms / max(1, requests))


# -- the run ------------------------------------------------------------------------------------


@dataclass
class Cell:
    scenario: str
    site: str
    target: str
    url: str
    samples: list[Sample] = field(default_factory=list)
    peak_rss_mib: float = 0.0
    #: The wrk script: the target's own (choosing each request's path) and the p95 line.
    script: Path | None = None
    #: The target's own number of connections, if it has one.
    connections: int | None = None

    def median(self, name: str) -> float:
        values = [getattr(sample, name) for sample in self.samples]
        return statistics.median(values) if values else float("nan")


def _deep_url(site: Any, base_url: str, path: str, listed: int, middle: int) -> str:
    """A page deep inside the listing at ``path`` (``listed`` posts long): the cursor link
    format its first page shows (followed once to check it), aimed at post ``middle``."""
    from bench.dataset import published_at
    from cms.web.views.base import encode_cursor

    status, first = fetch(base_url + path)
    if status != 200:
        raise RuntimeError(f"GET {path} on {site.label}: {status}")
    found = re.search(rf'href="({re.escape(path)}\?after=[^"]+)"', first)
    if listed > 10 and found is None:
        raise RuntimeError(f"no link to older posts on {path} of {site.label}")
    if found is not None:
        status, _ = fetch(base_url + found.group(1).replace("&amp;", "&"))
        if status != 200:
            raise RuntimeError(f"the older posts link of {path} on {site.label}: {status}")
    return f"{path}?" + urllib.parse.urlencode(
        {"after": encode_cursor(published_at(middle), middle)}
    )


def deep_page_url(site: Any, base_url: str) -> str:
    """A page deep inside the index, aimed at the middle of the site."""
    return _deep_url(site, base_url, "/", site.size, max(2, site.size // 2))


def tag_deep_page_url(site: Any, base_url: str) -> str:
    """A page deep inside the tag page, aimed at the middle of the tag's posts."""
    from bench.dataset import tagged_posts

    tagged = tagged_posts(site.size)
    path = f"/tags/{site.tag_slug}"
    if len(tagged) < 2:
        raise RuntimeError(f"{site.label}: {len(tagged)} post(s) on {path}, too few")
    return _deep_url(site, base_url, path, len(tagged), tagged[len(tagged) // 2])


#: The URLs that take a request or two to find, made when a target first needs them.
URL_MAKERS: dict[str, Callable[[Any, str], str]] = {
    "deep": deep_page_url,
    "tag-deep": tag_deep_page_url,
}


class SiteUrls(dict[str, str]):
    """A site's ``urls`` (what ``Target.path`` reads): each made on first use."""

    def __init__(self, site: Any, base_url: str) -> None:
        super().__init__()
        self.site, self.base_url = site, base_url

    def __missing__(self, key: str) -> str:
        self[key] = URL_MAKERS[key](self.site, self.base_url)
        return self[key]


def build_sites(args: argparse.Namespace, data: Path) -> list[Any]:
    from bench import dataset

    sites = []
    for backend in args.backends:
        for size in args.sizes:
            started = time.monotonic()
            print(f"  {backend}, {size} posts ...", flush=True)
            port = free_port()
            if backend == "sqlite":
                site = dataset.build_sqlite(data, size, port)
            else:
                site = dataset.build_postgres(data, size, port, args.postgres_url)
            print(f"  {site.label}: ready in {time.monotonic() - started:.0f} s", flush=True)
            sites.append(site)
    return sites


def cms_command(site: Any, args: argparse.Namespace) -> list[str]:
    command = [args.cms_python, "-m", "cms", "serve", "--settings", str(site.settings)]
    if args.workers > 1:
        command += ["--workers", str(args.workers)]
    # As installed (the access log on); --no-access-log measures without it, as behind a
    # proxy that logs requests.
    return command + ([] if args.access_log else ["--no-access-log"])


def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench.dataset import BENCH_SECRET_KEY

    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (make bench does it as root)")
    data = args.data or RESULTS / "data"
    data.mkdir(parents=True, exist_ok=True)
    logs = args.out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMS_")}
    env["CMS_SECRET_KEY"] = BENCH_SECRET_KEY

    started = time.monotonic()
    print("Building bench sites (kept under bench/results/data for the next run):", flush=True)
    sites = build_sites(args, data)
    servers: list[Server] = []
    cells: list[Cell] = []
    backgrounds: list[Background] = []
    try:
        by_site: dict[tuple[str, tuple[tuple[str, str], ...]], Server] = {}

        def cms_server(site: Any, server_env: tuple[tuple[str, str], ...] = ()) -> Server:
            """The site's server (one per site and scenario settings), started once."""
            key = (site.label, server_env)
            if key not in by_site:
                port = int(re.search(r"port = (\d+)", site.settings.read_text()).group(1))  # type: ignore[union-attr]
                suffix = "".join(f"-{name}={value}" for name, value in server_env)
                server = Server(
                    f"cms-{site.label}{suffix}",
                    pinned(cms_command(site, args), args.server_core),
                    site.directory,
                    port if not server_env else free_port(),
                    "/healthz",
                    logs / f"cms-{site.label}{suffix}.log",
                    {**env, **dict(server_env)},
                )
                if server_env:
                    server.command += ["--port", str(server.port)]
                servers.append(server)
                server.start()
                by_site[key] = server
            return by_site[key]

        for site in sites:
            cms_server(site)
        reference_site = sites[0]
        reference = Server(
            "reference",
            pinned(
                [
                    sys.executable,
                    "-m",
                    "bench.reference_server",
                    "--settings",
                    str(reference_site.settings),
                    "--slug",
                    reference_site.post_slug,
                    "--port",
                    str(free_port()),
                ],
                args.server_core,
            ),
            ROOT,
            0,
            f"/posts/{reference_site.post_slug}",
            logs / "reference.log",
            env,
        )
        reference.port = int(reference.command[-1])
        servers.append(reference)
        reference.start()
        same_page = check_same_page(reference, cms_server(reference_site), reference_site)

        # The references (bench/reference_server.py): the ceiling every ratio is to first.
        references = {
            name: Cell("reference", name, "post", reference.url + prefix + reference.health)
            for name, prefix in (("ceiling", "/plain"), ("limit", "/limit"), ("theme", ""))
        }
        for name, cell in references.items():
            cell.script = logs / f"reference-{name}.lua"
            cell.script.write_text(_P95_SCRIPT)
        plan: list[tuple[Server, Cell]] = [(reference, cell) for cell in references.values()]
        site_urls = {site.label: SiteUrls(site, cms_server(site).url) for site in sites}
        for scenario in args.scenarios:
            for site in sites[:1] if scenario.first_site_only else sites:
                server = cms_server(site, scenario.server_env)
                urls = site_urls[site.label]
                for name in scenario.targets:
                    target = TARGETS[name]
                    path = target.path(site, urls)
                    cell = Cell(scenario.name, site.label, name, server.url + path)
                    if scenario.server_env:
                        # The same site, another server: measured at its own URL.
                        cell.url = server.url + path
                    cell.script = logs / f"{site.label}-{name}.lua"
                    own = target.script(site) if target.script is not None else ""
                    cell.script.write_text(own + _P95_SCRIPT)
                    cell.connections = target.connections
                    cells.append(cell)
                    plan.append((server, cell))
        for _server, cell in plan if args.warmup else ():
            # Warm-up: caches, connections, first compilations.
            run_wrk(
                cell.url,
                duration=args.warmup,
                connections=cell.connections or args.connections,
                core=args.client_core,
                script=cell.script,
            )
        print(
            f"Measuring {len(plan)} cells x {args.rounds} round(s) x {args.duration:g} s "
            f"with {args.connections} connections:",
            flush=True,
        )
        for round_number in range(args.rounds):
            # Rotate the order each round: no cell always runs first or last.
            shift = round_number % len(plan)
            for server, cell in plan[shift:] + plan[:shift]:
                scenario = next((s for s in args.scenarios if s.name == cell.scenario), None)
                background = scenario.background() if scenario and scenario.background else None
                try:
                    if background is not None:
                        backgrounds.append(background)
                        background.start(cell.site, server.url)
                    cell.samples.append(measure(server, cell, args))
                finally:
                    if background is not None:
                        background.stop()
                sample = cell.samples[-1]
                print(
                    f"  round {round_number + 1}: {cell.site:>16} {cell.target:<13} "
                    f"{sample.rps:8.0f} req/s  p50 {sample.p50_ms:6.1f} ms  "
                    f"p95 {sample.p95_ms:6.1f} ms  p99 {sample.p99_ms:6.1f} ms  "
                    f"cpu {sample.cpu_ms_per_request:.2f} ms/req"
                    + (f"  ERRORS {sample.errors}" if sample.errors else ""),
                    flush=True,
                )
        for server, cell in plan:
            cell.peak_rss_mib = server.peak_rss_kib() / 1024
    finally:
        for background in backgrounds:
            with contextlib.suppress(Exception):
                background.stop()
        for server in servers:
            server.stop()
    return report(args, sites, references, cells, same_page, time.monotonic() - started)


def check_same_page(reference: Server, cms: Server, site: Any) -> bool:
    """Whether the reference serves the very page cms serves (it should, byte for byte)."""
    _, ours = fetch(cms.url + f"/posts/{site.post_slug}")
    _, theirs = fetch(reference.url + f"/posts/{site.post_slug}")
    if ours != theirs:
        print("  note: the reference page differs from cms's page", flush=True)
    return ours == theirs


# -- the report ---------------------------------------------------------------------------------

METRICS = (
    ("rps", "req/s"),
    ("p50_ms", "p50 ms"),
    ("p95_ms", "p95 ms"),
    ("p99_ms", "p99 ms"),
    ("cpu_ms_per_request", "CPU ms/req"),
)


def _ratio(value: float, reference: float) -> float:
    return value / reference if reference else float("nan")


def report(
    args: argparse.Namespace,
    sites: list[Any],
    references: dict[str, Cell],
    cells: list[Cell],
    same_page: bool,
    elapsed: float,
) -> dict[str, Any]:
    """Rows of medians, each with its ratios to the ceiling (``*_ratio``) and its req/s
    and CPU per request to the limit and the theme reference too."""
    ref = references["ceiling"]
    rows = []
    for cell in [*references.values(), *cells]:
        row: dict[str, Any] = {
            "scenario": cell.scenario,
            "site": cell.site,
            "target": cell.target,
            "url": cell.url,
            "samples": [asdict(sample) for sample in cell.samples],
            "errors": sum(sample.errors for sample in cell.samples),
            "peak_rss_mib": round(cell.peak_rss_mib, 1),
            "peak_rss_ratio": round(_ratio(cell.peak_rss_mib, ref.peak_rss_mib), 3),
        }
        for name, _ in METRICS:
            row[name] = round(cell.median(name), 3)
            row[f"{name}_ratio"] = round(_ratio(cell.median(name), ref.median(name)), 3)
        for other in ("limit", "theme"):
            for name in ("rps", "cpu_ms_per_request"):
                row[f"{name}_ratio_{other}"] = round(
                    _ratio(cell.median(name), references[other].median(name)), 3
                )
        rows.append(row)

    def find(site: str, target: str, scenario: str | None = None) -> dict[str, Any] | None:
        return next(
            (
                r
                for r in rows
                if r["site"] == site
                and r["target"] == target
                and (scenario is None or r["scenario"] == scenario)
            ),
            None,
        )

    checks = goal_checks(args, find, rows)
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "event_loop": _event_loop_name(),
            "pinned": args.server_core is not None,
        },
        "settings": {
            "sizes": args.sizes,
            "backends": args.backends,
            "workers": args.workers,
            "access_log": args.access_log,
            "cms_python": args.cms_python,
            "duration_s": args.duration,
            "rounds": args.rounds,
            "connections": args.connections,
        },
        "reference_serves_the_same_page": same_page,
        "elapsed_s": round(elapsed, 1),
        "rows": rows,
        "goals": checks,
    }
    print_table(rows)
    print("\nGoals:")
    for check in checks:
        print(f"  [{check['verdict']:^4}] {check['goal']}: {check['measured']}")
    print(f"\nElapsed: {elapsed:.0f} s")
    return result


def goal_checks(
    args: argparse.Namespace, find: Callable[..., Any], rows: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []
    pages_rows = [r for r in rows or [] if r["scenario"] == "pages"]
    uploads_rows = [r for r in rows or [] if r["scenario"] == "uploads"]

    def check(goal: str, value: float | None, passed: bool | None, text: str) -> None:
        verdict = "n/a" if passed is None else ("ok" if passed else "MISS")
        checks.append({"goal": goal, "value": value, "verdict": verdict, "measured": text})

    small, large = min(args.sizes), max(args.sizes)
    logged = "access log on" if args.access_log else "no access log"
    for size in sorted(set(args.sizes)):
        post = find(f"sqlite-{size}", "post", "pages")
        if post:
            ratio = post["rps_ratio"]
            check(
                f"SQLite post page (cached), {size} posts, {logged}: >= 0.8x the ceiling",
                ratio,
                ratio >= 0.8,
                f"{ratio:.2f}x ({post['rps']:.0f} req/s; {post['rps_ratio_limit']:.2f}x the "
                f"limit, {post['rps_ratio_theme']:.2f}x the theme reference)",
            )
            cpu = post["cpu_ms_per_request_ratio"]
            check(
                f"SQLite post page (cached), {size} posts: CPU/request <= 1.3x the ceiling's",
                cpu,
                cpu <= 1.3,
                f"{cpu:.2f}x ({post['cpu_ms_per_request']:.3f} ms)",
            )
        uncached = find(f"sqlite-{size}", "post", "no-page-cache")
        if uncached:
            ratio = uncached["rps_ratio"]
            check(
                f"SQLite post page, page cache off, {size} posts: >= 0.5x the ceiling",
                ratio,
                ratio >= 0.5,
                f"{ratio:.2f}x ({uncached['rps']:.0f} req/s)",
            )
        api = find(f"sqlite-{size}", "api", "pages")
        if api:
            ratio = api["rps_ratio"]
            check(
                f"SQLite /api/posts, {size} posts: >= 0.5x the ceiling",
                ratio,
                ratio >= 0.5,
                f"{ratio:.2f}x ({api['rps']:.0f} req/s)",
            )
    for backend in args.backends:
        tail = find(f"{backend}-{large}", "post-any", "pages")
        if tail:
            ratio = tail["rps_ratio"]
            check(
                f"{backend} post-any (a random post of {large}): >= 0.6x the ceiling",
                ratio,
                ratio >= 0.6,
                f"{ratio:.2f}x ({tail['rps']:.0f} req/s)",
            )
    for backend in args.backends:
        for target in ("index", "index-deep", "tag", "tag-deep"):
            a, b = find(f"{backend}-{small}", target), find(f"{backend}-{large}", target)
            if a and b and small != large:
                slowdown = a["rps"] / b["rps"] if b["rps"] else float("inf")
                check(
                    f"{backend} {target} at {large} posts within 1.2x of {small} posts",
                    slowdown,
                    slowdown <= 1.2,
                    f"{slowdown:.2f}x slower ({b['rps']:.0f} vs {a['rps']:.0f} req/s)",
                )
    for size in sorted(set(args.sizes)):
        pg, lite = find(f"postgres-{size}", "post"), find(f"sqlite-{size}", "post")
        if pg and lite:
            ratio = pg["rps"] / lite["rps"] if lite["rps"] else float("nan")
            check(
                f"PostgreSQL post page, {size} posts: >= 0.8x SQLite",
                ratio,
                ratio >= 0.8,
                f"{ratio:.2f}x ({pg['rps']:.0f} vs {lite['rps']:.0f} req/s)",
            )
    for backend in args.backends:
        search = find(f"{backend}-{large}", "search")
        if search:
            check(
                f"{backend} search at {large} posts: p95 < 50 ms (one reader at a time)",
                search["p95_ms"],
                search["p95_ms"] < 50,
                f"p95 {search['p95_ms']:.1f} ms, p99 {search['p99_ms']:.1f} ms",
            )
        sitemap = find(f"{backend}-{large}", "sitemap")
        if sitemap:
            check(
                f"{backend} /sitemap.xml at {large} posts: answers in under 1 s (p99)",
                sitemap["p99_ms"],
                sitemap["p99_ms"] < 1000,
                f"p99 {sitemap['p99_ms']:.1f} ms",
            )
    failed = [row for row in rows or [] if row["errors"]]
    check(
        "every request answered (no 5xx, 4xx or socket errors)",
        float(sum(row["errors"] for row in failed)),
        not failed,
        ", ".join(f"{row['site']} {row['target']}: {row['errors']}" for row in failed) or "none",
    )
    for row in uploads_rows:
        idle = next(
            (r for r in pages_rows if r["site"] == row["site"] and r["target"] == row["target"]),
            None,
        )
        if idle and idle["p99_ms"]:
            ratio = row["p99_ms"] / idle["p99_ms"]
            check(
                f"{row['site']} {row['target']} page p99 while 20 uploads are processed "
                "<= 3x idle p99",
                ratio,
                ratio <= 3.0,
                f"{ratio:.2f}x ({row['p99_ms']:.1f} ms vs {idle['p99_ms']:.1f} ms idle)",
            )
    return checks


def print_table(rows: list[dict[str, Any]]) -> None:
    """Each metric with its ratio to the ceiling; req/s to the limit and theme too."""
    header = f"{'site':>16} {'target':<13}" + "".join(
        f"{label:>12} {'ratio':>6}" + (f"{'x limit':>8}{'x theme':>8}" if name == "rps" else "")
        for name, label in METRICS
    )
    header += f"{'RSS MiB':>9} {'ratio':>6}"
    print("\n" + header)
    print("-" * len(header))
    for row in rows:
        target = row["target"]
        if row["scenario"] not in ("pages", "reference"):
            target += f"+{row['scenario']}"  # e.g. post+uploads
        line = f"{row['site']:>16} {target:<13}"
        for name, _ in METRICS:
            line += f"{row[name]:>12.2f} {row[f'{name}_ratio']:>6.2f}"
            if name == "rps":
                line += f"{row['rps_ratio_limit']:>8.2f}{row['rps_ratio_theme']:>8.2f}"
        line += f"{row['peak_rss_mib']:>9.1f} {row['peak_rss_ratio']:>6.2f}"
        if row["errors"]:
            line += f"  ({row['errors']} errors)"
        print(line)


def _event_loop_name() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def write_results(result: dict[str, Any], out: Path) -> tuple[Path, Path | None]:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out / f"bench-{stamp}.json"
    path.write_text(json.dumps(result, indent=2), encoding="utf-8")
    (out / "latest.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    chart = None
    with contextlib.suppress(ImportError):
        from bench.chart import draw

        chart = draw(result, out / f"bench-{stamp}.png")
        shutil.copyfile(chart, out / "latest.png")
    return path, chart


# -- command line -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    quick = os.environ.get("BENCH_QUICK") == "1"
    parser = argparse.ArgumentParser(description="cms benchmark (see bench/README.md)")
    parser.add_argument("--quick", action="store_true", default=quick, help="a fast smoke run")
    parser.add_argument("--sizes", help="posts per site, comma-separated [1000,100000]")
    parser.add_argument("--backends", help="sqlite,postgres [both]")
    parser.add_argument("--duration", type=float, help="seconds per measurement [6]")
    parser.add_argument("--rounds", type=int, help="rounds over every cell [3]")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds per cell first [1]")
    parser.add_argument("--workers", type=int, default=1, help="cms serve --workers N [1]")
    parser.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_false",
        help="measure cms without its access log (on by default, as installed)",
    )
    parser.add_argument(
        "--scenarios",
        help=f"which scenarios, comma-separated [{','.join(s.name for s in SCENARIOS)}]",
    )
    parser.add_argument(
        "--cms-python",
        default=sys.executable,
        help="the interpreter whose `-m cms serve` is measured (another build of cms, to "
        "compare; one without --no-access-log needs --access-log) [this one]",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--data", type=Path, default=None, help="where bench sites are kept")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CMS_BENCH_POSTGRES_URL", DEFAULT_POSTGRES),
        help="server for the cms_bench_<size> databases [$CMS_BENCH_POSTGRES_URL]",
    )
    args = parser.parse_args(argv)
    sizes = args.sizes or ("200,2000" if args.quick else "1000,100000")
    args.sizes = [int(size) for size in sizes.split(",")]
    args.backends = (args.backends or "sqlite,postgres").split(",")
    if unknown := set(args.backends) - {"sqlite", "postgres"}:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    args.duration = args.duration or (2.0 if args.quick else 6.0)
    args.rounds = args.rounds or (1 if args.quick else 3)
    known = {scenario.name: scenario for scenario in SCENARIOS}
    wanted = args.scenarios.split(",") if args.scenarios else list(known)
    if unknown := set(wanted) - set(known):
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    args.scenarios = [known[name] for name in wanted]
    cores = os.cpu_count() or 1
    args.server_core, args.client_core = (0, 1) if cores >= 2 else (None, None)
    return args


#: While a subprocess starts, a stop signal is noted here instead of stopping at once.
_held: list[int] = []
_holding = False


def _stop_on_signal(signum: int, _frame: Any) -> None:
    # Unwind through every ``finally``: servers and backgrounds are stopped there. A second
    # signal (``timeout`` passes its TERM on, a second Ctrl-C) must not cut that short and
    # leave servers running: from now on they are ignored.
    for other in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(other, signal.SIG_IGN)
    if _holding:
        _held.append(signum)  # raised when the subprocess is known (_signals_held)
        return
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Start a subprocess whole: a stop signal raised inside ``Popen`` (after the fork,
    before it returns) would leave a child nobody knows of, so it waits until then."""
    global _holding
    _holding = True
    try:
        yield
    finally:
        _holding = False
        if _held:
            raise SystemExit(128 + _held[0])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, _stop_on_signal)
    if "postgres" in args.backends and not _postgres_reachable(args.postgres_url):
        print(f"note: no PostgreSQL at {args.postgres_url}: measuring SQLite only", flush=True)
        args.backends = [b for b in args.backends if b != "postgres"]
    args.out.mkdir(parents=True, exist_ok=True)
    result = run(args)
    json_path, chart = write_results(result, args.out)
    print(f"Results: {json_path}" + (f", chart: {chart}" if chart else ""))
    return 0


def _postgres_reachable(url: str) -> bool:
    import asyncio

    from bench.dataset import database_url

    async def probe() -> None:
        import asyncpg

        conn = await asyncpg.connect(database_url(url, "postgres"), timeout=5)
        await conn.close()

    try:
        asyncio.run(probe())
    except Exception:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
