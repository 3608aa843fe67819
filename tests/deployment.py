"""A deployment as docs/deployment.md describes it, on this machine: Debian's nginx running
the shipped deploy/nginx/cms.conf in front of two ``cms serve`` hosts (separate site
folders, as two machines have), one PostgreSQL database, Redis sessions and S3 media
(moto's server). Used by tests/test_deployment.py and bench/failover.py."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from tests.cli_support import TEST_SECRET_KEY, Server, cms_env

__all__ = ["NGINX", "Deployment", "Nginx", "free_port", "nginx_binary", "render_nginx"]

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "deploy" / "nginx" / "cms.conf"
#: nginx connects to the hosts from this address, the one [server] trusted_proxies names;
#: test clients connect from other loopback addresses, which are not trusted.
PROXY_ADDRESS = "127.0.0.2"
NGINX = Path("/usr/sbin/nginx")


def nginx_binary() -> Path | None:
    found = shutil.which("nginx") or (str(NGINX) if NGINX.exists() else None)
    return Path(found) if found else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def render_nginx(folder: Path, port: int, hosts: list[int]) -> Path:
    """nginx.conf for ``folder``: the shipped server file with this run's hosts, port and
    cache folder, inside an ``http`` block whose paths are all in ``folder``."""
    shipped = SHIPPED.read_text(encoding="utf-8")
    upstreams = "".join(
        f"    server 127.0.0.1:{host} max_fails=3 fail_timeout=10s;\n" for host in hosts
    )
    site, count = re.subn(r"(?m)^    server 10\.0\.0\.\d+:8080 .*\n", "", shipped)
    assert count == 2, "deploy/nginx/cms.conf no longer lists its two example hosts"
    site = site.replace("upstream cms_app {\n", "upstream cms_app {\n" + upstreams, 1)
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};", 1)
    site = site.replace("/var/cache/nginx/cms", str(folder / "cache"), 1)
    (folder / "cms.conf").write_text(site, encoding="utf-8")
    temp = "\n".join(
        f"  {name}_temp_path {folder / name};" for name in ("client_body", "proxy", "fastcgi")
    )
    user = "user root;\n" if os.geteuid() == 0 else ""
    config = folder / "nginx.conf"
    config.write_text(
        f"{user}worker_processes 1;\npid {folder / 'nginx.pid'};\n"
        f"error_log {folder / 'error.log'} warn;\n"
        "events { worker_connections 512; }\n"
        "http {\n"
        f"  access_log {folder / 'access.log'};\n{temp}\n"
        f"  uwsgi_temp_path {folder / 'uwsgi'};\n  scgi_temp_path {folder / 'scgi'};\n"
        f"  proxy_bind {PROXY_ADDRESS};\n"
        f"  include {folder / 'cms.conf'};\n"
        "}\n",
        encoding="utf-8",
    )
    return config


@dataclass
class Nginx:
    """nginx in the foreground, as a child process."""

    folder: Path
    port: int
    hosts: list[int]
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = nginx_binary()
        assert binary is not None, "nginx is not installed (make nginx)"
        self.folder.mkdir(parents=True, exist_ok=True)
        config = render_nginx(self.folder, self.port, self.hosts)
        checked = subprocess.run(
            [str(binary), "-t", "-p", str(self.folder), "-c", str(config)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert checked.returncode == 0, checked.stderr
        self.process = subprocess.Popen(
            [str(binary), "-p", str(self.folder), "-c", str(config), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("nginx did not start:\n" + self.error_log())

    def error_log(self) -> str:
        path = self.folder / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Deployment:
    """Two hosts and nginx; ``settings_text(port)`` is each host's settings.toml."""

    folder: Path
    postgres_url: str
    redis_url: str
    media: dict[str, str]
    hosts: list[Server] = field(default_factory=list)
    nginx: Nginx | None = None

    def settings_text(self, port: int) -> str:
        media = ", ".join(f'{key} = "{value}"' for key, value in self.media.items())
        return (
            f'[site]\ntitle = "Two hosts"\nbase_url = "http://127.0.0.1:{port}"\n'
            f'[server]\nport = {port}\ntrusted_proxies = ["{PROXY_ADDRESS}"]\n'
            "shutdown_timeout = 5\n"
            f'[storage]\nbackend = "postgres"\noptions = {{ url = "{self.postgres_url}" }}\n'
            f'[sessions]\nbackend = "redis"\noptions = {{ url = "{self.redis_url}", '
            f'key_prefix = "cms:deploy:{port}:" }}\n'
            "[login]\nmax_failures_per_address = 3\n"
            "max_failures_per_account_and_address = 3\nmax_failures_per_account = 0\n"
            "[images]\noptions = { workers = 1, widths = [320, 640] }\n"
            f'[media]\nbackend = "s3"\noptions = {{ {media} }}\n'
        )

    async def start(self, count: int = 2) -> None:
        env = cms_env(
            CMS_SECRET_KEY=TEST_SECRET_KEY,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
        )
        # One key prefix for every host: sessions are shared.
        prefix = f"cms:deploy:{os.getpid()}:{time.monotonic_ns()}:"
        for index in range(count):
            port = free_port()
            folder = self.folder / f"host-{index}"
            folder.mkdir(parents=True)
            text = self.settings_text(port).replace(f"cms:deploy:{port}:", prefix)
            (folder / "settings.toml").write_text(text, encoding="utf-8")
            server = Server(folder / "settings.toml", port, env, folder / "serve.log")
            self.hosts.append(server)
            await server.start()  # one after the other: the first migrates the schema
        self.nginx = Nginx(self.folder / "nginx", free_port(), [h.port for h in self.hosts])
        await asyncio.to_thread(self.nginx.start)

    async def stop(self) -> None:
        if self.nginx is not None:
            await asyncio.to_thread(self.nginx.stop)
        for host in self.hosts:
            await host.kill()


def session_from(address: str = "127.0.0.1") -> aiohttp.ClientSession:
    """A client whose connections come from ``address`` (a loopback address), keeping
    cookies across the hosts and nginx (all on 127.0.0.1, whatever the port)."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0), force_close=False)
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True))
