"""A throwaway Python environment for installing plugin packages, as their users do.

An installed plugin joins every site of its environment (entry points), so the packages
these tests install must not land in the project's venv: the rest of the suite counts
fields and plugins exactly. ``OverlayVenv`` is a new venv that also sees the project's
venv (cms, its dependencies, pip, setuptools, pytest) through a ``.pth`` line, so
installing into it is quick, needs no network, and leaves the project's venv as it was.
"""

from __future__ import annotations

import subprocess
import sysconfig
import venv
from collections.abc import Mapping
from pathlib import Path

from tests.cli_support import cms_env

INSTALL_TIMEOUT = 120


class OverlayVenv:
    """``OverlayVenv.create(path)``, then ``pip_install``, ``cms``, ``python``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.python = path / "bin" / "python"

    @classmethod
    def create(cls, path: Path) -> OverlayVenv:
        # No pip of its own: the project's pip runs in it and installs into it.
        venv.EnvBuilder(with_pip=False, symlinks=True).create(path)
        overlay = cls(path)
        purelib = overlay.run_python("-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
        assert purelib.returncode == 0, purelib.stderr
        # addsitedir (not a bare path line) also runs that folder's .pth files: the
        # editable install of cms lives in one.
        project_site = sysconfig.get_path("purelib")
        (Path(purelib.stdout.strip()) / "_cms_project_venv.pth").write_text(
            f"import site; site.addsitedir({project_site!r})\n", encoding="utf-8"
        )
        return overlay

    def run_python(
        self,
        *args: str | Path,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.python), *map(str, args)],
            cwd=cwd,
            env=dict(env) if env is not None else cms_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def pip_install_editable(self, package: Path) -> subprocess.CompletedProcess[str]:
        """``pip install -e PACKAGE`` into this environment (dependencies checked, not fetched:
        cms and the rest are there through the project's venv)."""
        return self.run_python(
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-input",
            "--disable-pip-version-check",
            "--no-index",  # nothing may come from a registry: what it needs is here
            "--no-build-isolation",
            "-e",
            package,
            timeout=INSTALL_TIMEOUT,
        )

    @property
    def cms_command(self) -> tuple[str, ...]:
        """How to run ``cms`` in this environment."""
        return (str(self.python), "-m", "cms")

    def cms(
        self, *args: str | Path, cwd: Path, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run_python("-m", "cms", *args, cwd=cwd, env=env)

    def pytest(self, package: Path) -> subprocess.CompletedProcess[str]:
        """Run a package's own test suite, with its own configuration, in this environment."""
        return self.run_python(
            "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=package, timeout=INSTALL_TIMEOUT
        )
