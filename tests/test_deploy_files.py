"""The files of deploy/ say what cms accepts: the example settings are valid down to each
backend's options and name shared backends, and nginx never passes a write on to a second
host. (tests/test_deployment.py runs them.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def directives(path: Path) -> list[str]:
    """The lines of an nginx file without comments and blank lines."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text("utf-8").splitlines())
    return [line for line in lines if line]


@pytest.mark.parametrize("conf", ["nginx/cms.conf", "compose/nginx.conf"])
def test_nginx_never_sends_a_write_to_a_second_host(conf: str) -> None:
    """nginx passes a request on after an error only when it is idempotent, unless told
    otherwise: a POST a host may have carried out before it died must be answered 502,
    not made again on the other host."""
    lines = directives(DEPLOY / conf)
    assert [line for line in lines if line.startswith("proxy_next_upstream ")] == [
        "proxy_next_upstream error timeout;"
    ]
    assert not any("non_idempotent" in line for line in lines)


def test_the_compose_nginx_file_is_the_shipped_one_but_for_its_hosts() -> None:
    shipped = set(directives(DEPLOY / "nginx" / "cms.conf"))
    compose = set(directives(DEPLOY / "compose" / "nginx.conf"))
    assert all(
        line.startswith(("server ", "listen ", "server_name ")) for line in shipped ^ compose
    ), shipped ^ compose


def test_the_example_settings_suit_several_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    from cms.plugins.pillow_images import PillowOptions
    from cms.plugins.redis_sessions import RedisSessionsOptions
    from cms.plugins.s3_media import S3MediaOptions
    from cms.plugins.sql_storage import PostgresOptions

    from cms.core.settings import load_settings

    for key in [key for key in os.environ if key.startswith("CMS_")]:
        monkeypatch.delenv(key)
    for path in (DEPLOY / "settings.example.toml", DEPLOY / "compose" / "settings.toml"):
        settings = load_settings(path)
        assert (settings.storage.backend, settings.sessions.backend) == ("postgres", "redis")
        assert settings.media.backend == "s3"
        assert settings.server.trusted_proxies, path
        PostgresOptions.model_validate(settings.storage.options)
        RedisSessionsOptions.model_validate(settings.sessions.options)
        S3MediaOptions.model_validate(settings.media.options)
        if settings.images is not None and settings.images.options:
            PillowOptions.model_validate(settings.images.options)
