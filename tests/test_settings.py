"""Settings: defaults, the file, environment overrides, and the one-line errors that stop
``cms serve`` (through the real command, as a person would see them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cms.core.settings import Settings, SettingsError, load_settings
from tests.cli_support import cms_env, output_of, run_cms


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No ``CMS_`` setting from the outside may leak into these tests."""
    import os

    for key in list(os.environ):
        if key.startswith("CMS_") and not key.startswith("CMS_TEST_"):
            monkeypatch.delenv(key)
    return monkeypatch


def test_defaults_without_a_file(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.chdir(tmp_path)
    settings = load_settings()
    assert settings.site.title == "My site"
    assert settings.site.theme == "default"
    assert settings.site.base_url == "http://127.0.0.1:8080"
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8080)
    assert settings.server.shutdown_timeout == 30
    assert settings.storage.backend == "sqlite"
    assert settings.storage.options == {"path": "cms.db"}
    assert settings.sessions.backend == "cookie"
    assert settings.sessions.absolute_timeout == 14 * 24 * 3600
    login = settings.login
    assert login.failure_window == 15 * 60
    assert login.max_failures_per_account_and_address == 10
    assert (login.max_failures_per_address, login.max_failures_per_account) == (50, 100)
    assert settings.plugins.disabled == []
    # Relative paths are relative to the folder the (absent) default file would be in.
    assert settings.resolve_path("cms.db") == tmp_path.resolve() / "cms.db"


def test_the_file_is_read_and_relative_paths_follow_it(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "settings.toml").write_text(
        '[site]\ntitle = "Field notes"\n[server]\nport = 8123\n'
        '[storage]\nbackend = "sqlite"\noptions = { path = "data/notes.db" }\n',
        encoding="utf-8",
    )
    clean_env.chdir(tmp_path)  # not the site folder: paths must follow the file
    settings = load_settings(site / "settings.toml")
    assert settings.site.title == "Field notes"
    assert settings.server.port == 8123
    assert settings.resolve_path(settings.storage.options["path"]) == (
        site.resolve() / "data" / "notes.db"
    )


def test_cms_settings_env_names_the_file(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    (tmp_path / "elsewhere.toml").write_text('[site]\ntitle = "From env"\n', encoding="utf-8")
    clean_env.setenv("CMS_SETTINGS", str(tmp_path / "elsewhere.toml"))
    assert load_settings().site.title == "From env"


def test_a_missing_named_file_is_an_error(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.chdir(tmp_path)
    missing = tmp_path / "nope.toml"
    with pytest.raises(SettingsError) as raised:
        load_settings(missing)
    message = str(raised.value)
    assert "nope.toml" in message
    assert "\n" not in message
    # The same when the environment names it.
    clean_env.setenv("CMS_SETTINGS", str(missing))
    with pytest.raises(SettingsError, match=r"nope\.toml"):
        load_settings()


def test_environment_overrides_win_over_the_file(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(
        '[server]\nhost = "0.0.0.0"\nport = 8081\n'
        '[sessions]\nbackend = "cookie"\noptions = { max_age = 3600 }\n',
        encoding="utf-8",
    )
    clean_env.setenv("CMS_SERVER__PORT", "9000")
    clean_env.setenv("CMS_SESSIONS__BACKEND", "redis")
    settings = load_settings(path)
    assert settings.server.port == 9000
    assert settings.sessions.backend == "redis"
    # Keys the environment does not mention still come from the file.
    assert settings.server.host == "0.0.0.0"
    assert settings.sessions.options == {"max_age": 3600}


def test_sign_in_limits_and_the_session_lifetime_are_settings(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(
        "[sessions]\nabsolute_timeout = 2592000\n"
        "[login]\nfailure_window = 600\nmax_failures_per_account = 40\n",
        encoding="utf-8",
    )
    clean_env.setenv("CMS_LOGIN__MAX_FAILURES_PER_ADDRESS", "0")
    settings = load_settings(path)
    assert settings.sessions.absolute_timeout == 30 * 24 * 3600
    assert settings.login.failure_window == 600
    assert settings.login.max_failures_per_account == 40
    assert settings.login.max_failures_per_address == 0
    assert settings.login.max_failures_per_account_and_address == 10


def test_trusted_proxies_are_ip_networks_from_the_file_or_the_environment(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(
        '[server]\ntrusted_proxies = ["127.0.0.1", "10.0.0.0/8", "::1"]\n', encoding="utf-8"
    )
    assert [str(network) for network in load_settings(path).server.trusted_proxies] == [
        "127.0.0.1/32",
        "10.0.0.0/8",
        "::1/128",
    ]
    # From the environment: a JSON list, or addresses separated by commas.
    clean_env.setenv("CMS_SERVER__TRUSTED_PROXIES", '["192.0.2.0/24"]')
    assert [str(n) for n in load_settings(path).server.trusted_proxies] == ["192.0.2.0/24"]
    clean_env.setenv("CMS_SERVER__TRUSTED_PROXIES", "192.0.2.1, fd00::/8")
    assert [str(n) for n in load_settings(path).server.trusted_proxies] == [
        "192.0.2.1/32",
        "fd00::/8",
    ]
    clean_env.setenv("CMS_SERVER__TRUSTED_PROXIES", "nginx")
    with pytest.raises(
        SettingsError, match=r"\[server\] trusted_proxies = 'nginx': 'nginx' is not"
    ):
        load_settings(path)
    assert Settings().server.trusted_proxies == ()  # the default: nobody is trusted


def test_command_line_flags_win_over_the_environment(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    """``cms serve --port 7000`` serves on 7000 even when ``CMS_SERVER__PORT`` is set."""
    path = tmp_path / "settings.toml"
    path.write_text("[server]\nport = 8081\n", encoding="utf-8")
    clean_env.setenv("CMS_SERVER__PORT", "9000")
    flagged = load_settings(path, server={"host": None, "port": 7000})
    assert flagged.server.port == 7000
    not_flagged = load_settings(path, server={"host": None, "port": None})
    assert not_flagged.server.port == 9000


def test_internal_fields_are_not_read_from_the_environment(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("", encoding="utf-8")
    clean_env.setenv("CMS_BASE_DIR", "/somewhere/else")
    clean_env.setenv("CMS_PATH", "/somewhere/else/settings.toml")
    settings = load_settings(path)
    assert settings.base_dir == tmp_path.resolve()
    assert settings.path == path


def test_a_bad_environment_value_is_a_settings_error(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("", encoding="utf-8")
    clean_env.setenv("CMS_SERVER__PORT", "ninety")
    with pytest.raises(SettingsError) as raised:
        load_settings(path)
    assert "port" in str(raised.value)
    assert "ninety" in str(raised.value)


def test_settings_are_immutable(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.chdir(tmp_path)
    settings = load_settings()
    assert isinstance(settings, Settings)
    with pytest.raises(ValueError):
        settings.server.port = 1  # type: ignore[misc]


# Each case: settings.toml text, extra command-line arguments, and patterns the single
# error line must match (the key, the value, what is allowed).
BAD_SETTINGS: dict[str, tuple[str, list[str], list[str]]] = {
    "typo in a key": (
        '[site]\ntitel = "x"\n',
        [],
        [r"\[site\]", r"titel", r"'x'", r"allowed keys: .*\btitle\b"],
    ),
    "unknown storage backend": (
        '[storage]\nbackend = "mysql"\n',
        [],
        [r"\[storage\] backend", r"mysql", r"\bsqlite\b", r"\bpostgres\b"],
    ),
    "unknown sessions backend": (
        '[sessions]\nbackend = "memcached"\n',
        [],
        [r"\[sessions\] backend", r"memcached", r"\bcookie\b"],
    ),
    "unknown theme": (
        '[site]\ntheme = "fancy"\n',
        [],
        [r"\[site\] theme", r"fancy", r"\bdefault\b"],
    ),
    "unknown theme on the command line": (
        "",
        ["--theme", "fancy"],
        [r"--theme", r"fancy", r"\bdefault\b"],
    ),
    "wrong type": (
        '[server]\nport = "eighty"\n',
        [],
        [r"\[server\] port", r"eighty", r"integer"],
    ),
    "out of range": (
        "[server]\nport = 70000\n",
        [],
        [r"\[server\] port", r"70000", r"65535"],
    ),
    "a shutdown timeout of zero": (
        "[server]\nshutdown_timeout = 0\n",
        [],
        [r"\[server\] shutdown_timeout", r"= 0\b", r"greater than 0"],
    ),
    "a shutdown timeout that is not a number": (
        '[server]\nshutdown_timeout = "30s"\n',
        [],
        [r"\[server\] shutdown_timeout", r"'30s'", r"a valid number"],
    ),
    "unknown top-level section": (
        '[database]\nurl = "x"\n',
        [],
        [r"\[database\]", r"unknown", r"\bsite\b", r"\bstorage\b", r"\bsessions\b"],
    ),
    "a sign-in lifetime too short": (
        "[sessions]\nabsolute_timeout = 10\n",
        [],
        [r"\[sessions\] absolute_timeout", r"= 10\b", r"greater than or equal to 60"],
    ),
    "an unknown sign-in setting": (
        "[login]\nmax_attempts = 5\n",
        [],
        [r"\[login\] max_attempts", r"allowed keys: .*\bmax_failures_per_address\b"],
    ),
    "an account ceiling below the lockout": (
        "[login]\nmax_failures_per_account = 5\n",
        [],
        [
            r"\[login\]",
            r"max_failures_per_account = 5 must be at least",
            r"max_failures_per_account_and_address \(10\)",
            r"0 for no ceiling",
        ],
    ),
    "a failure window past a day": (
        "[login]\nfailure_window = 100000\n",
        [],
        [r"\[login\] failure_window", r"100000", r"86400"],
    ),
    "a trusted proxy that is not an address": (
        '[server]\ntrusted_proxies = ["127.0.0.1", "nginx"]\n',
        [],
        [
            r"\[server\] trusted_proxies",
            r"'nginx' is not an IP address or network",
            r"allowed: IP addresses and CIDR networks",
            r"10\.0\.0\.0/8",
        ],
    ),
    "a trusted network with host bits set": (
        '[server]\ntrusted_proxies = ["10.0.0.1/8"]\n',
        [],
        [r"\[server\] trusted_proxies", r"'10\.0\.0\.1/8' has host bits set", r"'10\.0\.0\.0/8'"],
    ),
    "trusted proxies that are not a list": (
        "[server]\ntrusted_proxies = 127\n",
        [],
        [r"\[server\] trusted_proxies = 127\b", r"must be a list", r"allowed:"],
    ),
    "bad backend option": (
        '[storage]\noptions = { pathh = "x" }\n',
        [],
        [r"\[storage\] options", r"pathh", r"'x'", r"allowed keys: .*\bpath\b"],
    ),
    "an unknown time zone": (
        '[site]\ntimezone = "Mars/Olympus"\n',
        [],
        [r"\[site\] timezone", r"Mars/Olympus", r"IANA time zone name", r"Europe/Paris"],
    ),
    "a section that is not a table": (
        "server = 5\n",
        [],
        [r"\[server\]", r"= 5", r"must be a table"],
    ),
    "invalid TOML": (
        '[site\ntitle = "x"\n',
        [],
        [r"settings\.toml", r"TOML", r"line 1"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_SETTINGS), ids=list(BAD_SETTINGS))
def test_bad_settings_stop_serve_with_one_clear_line(tmp_path: Path, case: str) -> None:
    text, extra_args, patterns = BAD_SETTINGS[case]
    settings = tmp_path / "settings.toml"
    settings.write_text(text, encoding="utf-8")
    # A server that wrongly accepts the settings would run until the timeout: that fails too.
    result = run_cms("serve", "--settings", settings, *extra_args, cwd=tmp_path, timeout=30)
    shown = output_of(result)
    assert result.returncode == 2, shown
    assert "Traceback" not in result.stdout + result.stderr, shown
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, shown
    for pattern in patterns:
        assert re.search(pattern, lines[0]), f"{pattern!r} not in the error line\n{shown}"
    assert not (tmp_path / "cms.db").exists(), "nothing may be created from bad settings"


def test_bad_settings_stop_other_commands_too(tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text('[site]\ntitel = "x"\n', encoding="utf-8")
    for command in (["migrate"], ["plugins"], ["themes"]):
        result = run_cms(*command, "--settings", settings, cwd=tmp_path)
        shown = output_of(result)
        assert result.returncode == 2, shown
        assert "Traceback" not in result.stdout + result.stderr, shown
        assert len(result.stderr.strip().splitlines()) == 1, shown
        assert "titel" in result.stderr, shown


def test_serve_names_a_missing_settings_file(tmp_path: Path) -> None:
    result = run_cms("serve", "--settings", tmp_path / "absent.toml", cwd=tmp_path, timeout=30)
    shown = output_of(result)
    assert result.returncode == 2, shown
    assert "Traceback" not in result.stdout + result.stderr, shown
    assert len(result.stderr.strip().splitlines()) == 1, shown
    assert "absent.toml" in result.stderr, shown


def test_environment_override_reaches_the_command(tmp_path: Path) -> None:
    """``CMS_STORAGE__BACKEND`` wins over the file in the real command, too."""
    settings = tmp_path / "settings.toml"
    settings.write_text('[storage]\nbackend = "sqlite"\n', encoding="utf-8")
    result = run_cms(
        "serve",
        "--settings",
        settings,
        cwd=tmp_path,
        env=cms_env(CMS_STORAGE__BACKEND="oracle"),
        timeout=30,
    )
    shown = output_of(result)
    assert result.returncode == 2, shown
    assert "oracle" in result.stderr, shown
    assert "Traceback" not in result.stdout + result.stderr, shown


def test_a_list_from_the_environment_that_is_not_json_stops_serve(tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text("", encoding="utf-8")
    result = run_cms(
        "serve",
        "--settings",
        settings,
        cwd=tmp_path,
        env=cms_env(CMS_PLUGINS__DISABLED="seo"),
        timeout=30,
    )
    shown = output_of(result)
    assert result.returncode == 2, shown
    assert "Traceback" not in result.stdout + result.stderr, shown
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, shown
    assert "CMS_PLUGINS__DISABLED" in lines[0] and "JSON" in lines[0], shown


async def test_unknown_plugin_names_in_settings_stop_start_up(site_dir: Path) -> None:
    from cms.core.site import Site
    from tests.conftest import make_settings

    typo = make_settings(site_dir, plugins={"disabled": ["sql_storag"]})
    with pytest.raises(SettingsError, match=r"\[plugins\] disabled: 'sql_storag' is not"):
        await Site(typo).configure()
    table = make_settings(site_dir, plugins={"nope": {"x": 1}})
    with pytest.raises(SettingsError, match=r"\[plugins\.nope\]: no plugin named 'nope'"):
        await Site(table).configure()


@pytest.mark.parametrize(
    ("text", "patterns"),
    [
        (
            "[passwords]\ntime_cost = 0\n",
            [r"\[passwords\] time_cost", r"greater than or equal to 1"],
        ),
        (
            "[passwords]\nmemory_cost = 16\nparallelism = 4\n",
            [r"\[passwords\]", r"memory_cost = 16 must be at least 8 x parallelism \(32\)"],
        ),
        ("[passwords]\nrounds = 5\n", [r"\[passwords\] rounds", r"allowed keys: .*time_cost"]),
    ],
)
def test_bad_password_hashing_settings_are_one_line(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, text: str, patterns: list[str]
) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError) as raised:
        load_settings(settings)
    message = str(raised.value)
    assert "\n" not in message
    for pattern in patterns:
        assert re.search(pattern, message), (pattern, message)


async def test_each_site_hashes_with_its_own_parameters(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two sites in one process, two hashers: nothing about hashing is global, and a hash
    made with one site's parameters verifies on the other."""
    from cms.core.site import Site

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "settings.toml").write_text("[passwords]\ntime_cost = 1\n")
    (tmp_path / "b" / "settings.toml").write_text(
        "[passwords]\ntime_cost = 2\nmemory_cost = 16\nparallelism = 1\n"
    )
    cheap = Site(load_settings(tmp_path / "a" / "settings.toml"))
    other = Site(load_settings(tmp_path / "b" / "settings.toml"))
    made = await cheap.passwords.hash("correct horse")
    assert made.startswith("$argon2id$") and ",t=1," in made
    assert ",t=2," in await other.passwords.hash("correct horse")
    assert await other.passwords.verify(made, "correct horse")
    assert not await other.passwords.verify(made, "wrong horse")
    assert not await cheap.passwords.verify(None, "correct horse")
