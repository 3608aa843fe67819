"""Several hosts under load, as docs/deployment.md sets them up: Debian's nginx running
deploy/nginx/cms.conf in front of two ``cms serve`` hosts on one PostgreSQL database,
Redis sessions and S3 media (moto's server), on this machine.

Two scenarios (both by default), each for ``--duration`` seconds:

- ``kill``: 20 readers and 2 writers (new posts through the JSON API) go through nginx;
  one host is killed (SIGKILL) a third of the way in. At the end every write that was
  answered 2xx must be in the database (a lost write fails the run); the failed requests
  and how long the switch-over took are printed.
- ``media``: readers and uploaders go through nginx; the object store is stopped a third of
  the way in and started again at two thirds. Uploads must answer 503 (never 500), pages
  200, /healthz must name the media store, and uploads must work again within 5 s of its
  return.

Run: ``python -m bench.failover [--scenario kill|media] [--duration 30]`` with
``CMS_TEST_POSTGRES_URL`` and ``CMS_TEST_REDIS_URL`` set (a fresh database is made) and
nginx installed (``make nginx``). Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from tests.cli_support import TEST_SECRET_KEY, run_cms
from tests.conftest import reset_postgres
from tests.deployment import Deployment, session_from
from tests.image_files import photo
from tests.s3_server import CREDENTIALS, S3Server

READERS = 20
WRITERS = 2


@dataclass
class Tally:
    """What the clients saw: statuses with the time (seconds from the start) of each."""

    answers: list[tuple[float, str, int]] = field(default_factory=list)
    written: list[str] = field(default_factory=list)

    def record(self, started: float, what: str, status: int) -> None:
        self.answers.append((time.monotonic() - started, what, status))

    def failures(self, what: str | None = None) -> list[tuple[float, str, int]]:
        return [a for a in self.answers if (what is None or a[1] == what) and not 200 <= a[2] < 400]


async def _token(deployment: Deployment) -> str:
    settings = deployment.hosts[0].settings
    env = {**os.environ, **CREDENTIALS, "CMS_SECRET_KEY": TEST_SECRET_KEY}
    made = run_cms(
        "users",
        "create",
        "writer",
        "--role",
        "admin",
        "--settings",
        settings,
        cwd=settings.parent,
        input="a long bench password\n",
        env=env,
    )
    assert made.returncode == 0, made.stderr
    issued = run_cms(
        "tokens", "create", "writer", "--settings", settings, cwd=settings.parent, env=env
    )
    assert issued.returncode == 0, issued.stderr
    return issued.stdout.strip().split()[-1]


async def _read(
    session: aiohttp.ClientSession, url: str, tally: Tally, started: float, until: float
) -> None:
    while time.monotonic() < until:
        try:
            async with session.get(url) as answer:
                await answer.read()
                tally.record(started, "read", answer.status)
        except aiohttp.ClientError:
            tally.record(started, "read", 0)


async def _write(
    session: aiohttp.ClientSession,
    url: str,
    token: str,
    name: str,
    tally: Tally,
    started: float,
    until: float,
) -> None:
    number = 0
    while time.monotonic() < until:
        number += 1
        title = f"{name} {number}"
        try:
            async with session.post(
                f"{url}/api/posts",
                json={"title": title, "body": "Written under load.", "status": "published"},
                headers={"Authorization": f"Bearer {token}"},
            ) as answer:
                await answer.read()
                tally.record(started, "write", answer.status)
                if answer.status == 201:
                    tally.written.append(title)
        except aiohttp.ClientError:
            tally.record(started, "write", 0)


async def _stored_titles(deployment: Deployment) -> set[str]:
    from cms.core.settings import load_settings
    from cms.core.site import Site

    site = Site(load_settings(deployment.hosts[1].settings))
    await site.configure()
    await site.storage.open()
    try:
        titles: set[str] = set()
        after = None
        while page := await site.storage.list_posts(after=after, limit=500, order="updated"):
            titles.update(post.title for post in page)
            after = (page[-1].updated_at, page[-1].id)
        return titles
    finally:
        await site.storage.close()


async def kill_scenario(deployment: Deployment, duration: float) -> bool:
    assert deployment.nginx is not None
    front = deployment.nginx.url
    token = await _token(deployment)
    tally = Tally()
    started = time.monotonic()
    until = started + duration
    async with session_from() as session:
        # A published post to read.
        async with session.post(
            f"{front}/api/posts",
            json={"title": "Read me", "body": "Hello.", "status": "published"},
            headers={"Authorization": f"Bearer {token}"},
        ) as answer:
            assert answer.status == 201
        clients = [
            _read(session, f"{front}/posts/read-me", tally, started, until) for _ in range(READERS)
        ]
        clients += [
            _write(session, front, token, f"w{n}", tally, started, until) for n in range(WRITERS)
        ]

        async def kill() -> float:
            await asyncio.sleep(duration / 3)
            victim = deployment.hosts[0].process
            assert victim is not None
            victim.send_signal(signal.SIGKILL)
            return time.monotonic() - started

        killed_at, *_ = await asyncio.gather(kill(), *clients)
    stored = await _stored_titles(deployment)
    lost = [title for title in tally.written if title not in stored]
    failed = tally.failures()
    counts = Counter(what for _, what, _ in tally.answers)
    print(
        f"kill: {counts['read']} reads, {counts['write']} writes "
        f"({len(tally.written)} answered 201) "
        f"in {duration:.0f} s; host A killed at {killed_at:.1f} s"
    )
    print(f"  lost writes (2xx but not in the database): {len(lost)}")
    if failed:
        first, last = failed[0][0], failed[-1][0]
        kinds = Counter((what, status) for _, what, status in failed)
        print(
            f"  failed requests: {len(failed)} {dict(kinds)}, from {first:.2f} s to {last:.2f} s "
            f"(switch-over {last - killed_at:.2f} s after the kill)"
        )
    else:
        print("  failed requests: 0 (nginx moved every request to host B)")
    late = [f for f in failed if f[0] > killed_at + 11]  # past fail_timeout: host marked down
    print(f"  5xx after nginx marked the host down: {len(late)}")
    return not lost and not late


async def media_scenario(deployment: Deployment, s3: S3Server, duration: float) -> bool:
    assert deployment.nginx is not None
    front = deployment.nginx.url
    token = await _token(deployment)
    tally = Tally()
    started = time.monotonic()
    until = started + duration
    outage = (duration / 3, 2 * duration / 3)
    health: list[tuple[float, int, str]] = []
    recovered: list[float] = []

    async def upload(session: aiohttp.ClientSession, seed: int) -> None:
        while time.monotonic() < until:
            form = aiohttp.FormData()
            form.add_field(
                "file", photo(400, 300, seed=seed), filename="a.jpg", content_type="image/jpeg"
            )
            seed += 2
            try:
                async with session.post(
                    f"{front}/api/media", data=form, headers={"Authorization": f"Bearer {token}"}
                ) as answer:
                    await answer.read()
                    tally.record(started, "upload", answer.status)
                    now = time.monotonic() - started
                    if answer.status == 201 and now > outage[1] and not recovered:
                        recovered.append(now)
            except aiohttp.ClientError:
                tally.record(started, "upload", 0)
            await asyncio.sleep(0.2)

    async def outage_and_health(session: aiohttp.ClientSession) -> None:
        await asyncio.sleep(outage[0])
        s3.stop()
        while time.monotonic() - started < outage[1]:
            async with session.get(f"{front}/healthz") as answer:
                health.append((time.monotonic() - started, answer.status, await answer.text()))
            await asyncio.sleep(0.5)
        s3.start()

    async with session_from() as session:
        async with session.post(
            f"{front}/api/posts",
            json={"title": "Read me", "body": "Hello.", "status": "published"},
            headers={"Authorization": f"Bearer {token}"},
        ) as answer:
            assert answer.status == 201
        await asyncio.gather(
            outage_and_health(session),
            *(
                _read(session, f"{front}/posts/read-me", tally, started, until)
                for _ in range(READERS)
            ),
            *(upload(session, seed) for seed in range(WRITERS)),
        )
    during = [a for a in tally.answers if outage[0] + 0.5 < a[0] < outage[1]]
    uploads = Counter(status for _, what, status in during if what == "upload")
    reads = Counter(status for _, what, status in during if what == "read")
    named = all(status == 503 and '"media"' in text for _, status, text in health[1:])
    back = recovered[0] - outage[1] if recovered else None
    print(f"media: store stopped from {outage[0]:.1f} s to {outage[1]:.1f} s")
    print(
        f"  during the outage: uploads {dict(uploads)}, pages {dict(reads)}; "
        f"/healthz 503 naming media: {named} ({len(health)} checks)"
    )
    print(
        f"  first upload accepted {back:.2f} s after the store came back"
        if back is not None
        else "  no upload accepted after the store came back"
    )
    server_errors = [a for a in tally.answers if a[2] >= 500 and a[2] != 503]
    return (
        set(uploads) <= {503}
        and set(reads) == {200}
        and named
        and back is not None
        and back <= 5
        and not server_errors
    )


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", choices=["kill", "media", "both"], default="both")
    parser.add_argument("--duration", type=float, default=30)
    args = parser.parse_args()
    postgres, redis = os.environ.get("CMS_TEST_POSTGRES_URL"), os.environ.get("CMS_TEST_REDIS_URL")
    if not postgres or not redis:
        print("set CMS_TEST_POSTGRES_URL and CMS_TEST_REDIS_URL", file=sys.stderr)
        return 2
    os.environ.update(CREDENTIALS)
    s3 = S3Server()
    s3.start()
    ok = True
    try:
        for scenario in ["kill", "media"] if args.scenario == "both" else [args.scenario]:
            await reset_postgres(postgres)
            with tempfile.TemporaryDirectory(prefix="cms-failover-") as folder:
                media = {
                    "bucket": s3.new_bucket(),
                    "endpoint_url": s3.url,
                    "region": "us-east-1",
                    "addressing_style": "path",
                }
                deployment = Deployment(Path(folder), postgres, redis, media)
                try:
                    await deployment.start()
                    if scenario == "kill":
                        ok &= await kill_scenario(deployment, args.duration)
                    else:
                        ok &= await media_scenario(deployment, s3, args.duration)
                finally:
                    await deployment.stop()
                    if not ok:
                        for host in deployment.hosts:
                            print(f"--- {host.log} (last lines)")
                            print("\n".join(host.log_text().splitlines()[-15:]))
    finally:
        s3.stop()
    print("all checks passed" if ok else "A CHECK FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
