"""A throwaway PostgreSQL server of our own, for tests that stop and restart it.

The machine's shared server (CMS_TEST_POSTGRES_URL) must never be stopped: other tests use
it. This one lives in a temporary folder on a free port and is removed afterwards.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_support import free_port
from tests.conftest import REQUIRE_SERVICES_ENV

__all__ = ["ThrowawayPostgres", "postgres_bin_dir", "throwaway_postgres"]


def postgres_bin_dir() -> Path | None:
    """The folder holding initdb and pg_ctl (Debian keeps them out of PATH), or None."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for candidate in candidates:
        folder = Path(candidate)
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    return None


class ThrowawayPostgres:
    """``initdb`` + ``pg_ctl`` in a temporary folder; trust authentication on 127.0.0.1."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="cms-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        # initdb refuses to run as root: run the server as the postgres user then.
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres", "postgres")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        result = subprocess.run(
            [*self._as, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(
                f"{' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}\n{log}"
            )

    def init(self) -> None:
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        )

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.log),
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self) -> None:
        """Stop now (``-m fast``: open connections are cut, as in a real restart)."""
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    """A running PostgreSQL server that the test may stop and start (skipped, or failed
    under CMS_TEST_REQUIRE_SERVICES, when the server binaries are not installed)."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        reason = (
            "needs PostgreSQL's server binaries (initdb, pg_ctl), e.g. apt-get install postgresql"
        )
        if os.environ.get(REQUIRE_SERVICES_ENV):
            pytest.fail(f"{reason}; {REQUIRE_SERVICES_ENV} forbids skipping")
        pytest.skip(reason)
    server = ThrowawayPostgres(bin_dir)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.remove()
