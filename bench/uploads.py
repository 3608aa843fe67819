"""The ``uploads`` scenario's background load: 20 uploads of 4000 x 3000 JPEGs, sent at
once through ``POST /api/media`` while the post page is measured, so its p99 can be put
beside the idle one (goal: within 3x).

The photos are made once with Pillow (smooth colour fields, about 1 MB each, all
different) and kept under ``bench/results/data/uploads``. The load signs in as the bench
site's admin (a session plus ``X-CSRF-Token``, as the admin's own pages would), sends the
20 uploads from a thread of its own, waits until the server is processing them, and on
``stop()`` waits for every answer, so no processing spills into the next measurement.
Uploading the same photos again in a later round is processed again in full (the media
row is shared, the work is not skipped).
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["UPLOADS", "UploadLoad", "photos"]

UPLOADS = 20
SIZE = (4000, 3000)
PHOTOS = Path(__file__).resolve().parent / "results" / "data" / "uploads"
#: How long the uploads get to reach the server before the measurement starts.
LEAD_SECONDS = 1.5
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def photos(folder: Path = PHOTOS, count: int = UPLOADS) -> list[Path]:
    """``count`` different 4000 x 3000 JPEGs (made on first use)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for number in range(count):
        path = folder / f"photo-{number:02d}.jpg"
        if not path.exists():
            # A tiny random image blown up: smooth fields of colour, like a photo's sky.
            seed = Image.frombytes(
                "RGB", (8, 6), bytes((number * 37 + i * 11) % 256 for i in range(8 * 6 * 3))
            )
            image = seed.resize(SIZE, Image.Resampling.BICUBIC)
            partial = path.with_suffix(".part")
            image.save(partial, "JPEG", quality=90)
            partial.replace(path)
        made.append(path)
    return made


class UploadLoad:
    """A ``bench.run.Background``: the 20 uploads (see the module's docstring)."""

    def __init__(self) -> None:
        self.files = photos()
        self.results: list[tuple[int, float]] = []
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._sent = threading.Event()

    def start(self, site: Any, base_url: str) -> None:
        self._thread = threading.Thread(target=self._run, args=(base_url,), daemon=True)
        self._thread.start()
        if not self._sent.wait(60):
            raise RuntimeError(f"the uploads did not start: {self.error!r}")
        time.sleep(LEAD_SECONDS)

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.join(600)
            self._thread = None
        if self.error is not None:
            raise RuntimeError(f"the uploads failed: {self.error!r}")
        refused = [status for status, _ in self.results if status != 201]
        if refused:
            raise RuntimeError(f"uploads answered {refused}")
        if self.results:
            slowest = max(seconds for _, seconds in self.results)
            print(
                f"    ({len(self.results)} uploads stored, the last {slowest:.1f} s after "
                "it was sent)",
                flush=True,
            )

    def _run(self, base_url: str) -> None:
        try:
            asyncio.run(self._upload_all(base_url))
        except BaseException as error:  # reported by stop()
            self.error = error
            self._sent.set()

    async def _upload_all(self, base_url: str) -> None:
        import aiohttp

        from bench.dataset import ADMIN_NAME, ADMIN_PASSWORD

        jar = aiohttp.CookieJar(unsafe=True)  # keep the session cookie of 127.0.0.1
        timeout = aiohttp.ClientTimeout(total=600)
        async with aiohttp.ClientSession(cookie_jar=jar, timeout=timeout) as session:
            token = await _csrf(session, f"{base_url}/login")
            async with session.post(
                f"{base_url}/login",
                data={"username": ADMIN_NAME, "password": ADMIN_PASSWORD, "csrf_token": token},
                allow_redirects=False,
            ) as response:
                if response.status != 303:
                    raise RuntimeError(f"signing in answered {response.status}")
            token = await _csrf(session, f"{base_url}/admin/posts/new")
            datas = [path.read_bytes() for path in self.files]

            async def one(number: int, data: bytes) -> tuple[int, float]:
                form = aiohttp.FormData()
                form.add_field("file", data, filename=f"photo-{number}.jpg")
                started = time.monotonic()
                async with session.post(
                    f"{base_url}/api/media", data=form, headers={"X-CSRF-Token": token}
                ) as response:
                    await response.read()
                    return response.status, time.monotonic() - started

            tasks = [asyncio.ensure_future(one(n, data)) for n, data in enumerate(datas)]
            await asyncio.sleep(0.2)  # the requests are on their way
            self._sent.set()
            self.results = list(await asyncio.gather(*tasks))


async def _csrf(session: Any, url: str) -> str:
    async with session.get(url) as response:
        text = await response.text()
    found = _CSRF.search(text)
    if found is None:
        raise RuntimeError(f"no CSRF token on {url}")
    return found.group(1)
