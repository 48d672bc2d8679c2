"""``--config FILE``: every setting of a flag or THREADGATE_* variable has a key, and the
precedence is flag > environment > file > default, setting by setting."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from adapters.cli import parse, parser
from adapters.config_file import ConfigFile, ConfigFileError, env_name, settings_of
from adapters.settings import STORE_SETTINGS, Settings, settings_from


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("THREADGATE_"):
            monkeypatch.delenv(name)
    yield


def serve_parser() -> argparse.ArgumentParser:
    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    found: argparse.ArgumentParser = sub.choices["serve"]
    return found


SERVE_SETTINGS = settings_of(serve_parser())


def samples(
    action: argparse.Action, base: Path
) -> tuple[object, str, list[str], tuple[object, object, object]]:
    """For one setting: a file value, an environment value and flag arguments, all
    different, and what each parses to."""
    flag = action.option_strings[0]
    if action.nargs == 0:  # an on/off flag: the file and the flag say the same, the variable not
        on = action.const
        return on, "1" if not on else "0", [flag], (on, not on, on)
    if action.type is int:
        return 11, "12", [flag, "13"], (11, 12, 13)
    if action.type is float:
        return 1.5, "2.5", [flag, "3.5"], (1.5, 2.5, 3.5)
    if action.type is Path:
        return (
            "in-file",
            "/from/env",
            [flag, "/from/flag"],
            (base / "in-file", Path("/from/env"), Path("/from/flag")),
        )
    if action.choices is not None:
        a, b, c = list(action.choices)[:3]
        return a, b, [flag, c], (a, b, c)
    return "file", "env", [flag, "flag"], ("file", "env", "flag")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "etc" / "threadgate.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if not isinstance(value, str) else f'"{value}"'


@pytest.mark.parametrize("key", sorted(SERVE_SETTINGS))
def test_every_setting_flag_beats_environment_beats_file_beats_default(
    key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    action = SERVE_SETTINGS[key]
    config = write(tmp_path, "")
    in_file, in_env, flag, (from_file, from_env, from_flag) = samples(action, config.parent)
    config.write_text(f"{key} = {toml_value(in_file)}\n")
    base = ["serve", "--config", str(config)]

    assert getattr(parse(["serve"]), key) == action.default
    assert getattr(parse(base), key) == from_file
    monkeypatch.setenv(env_name(key), in_env)
    assert getattr(parse(base), key) == from_env
    assert getattr(parse([*base, *flag]), key) == from_flag


def test_every_setting_is_a_flag_except_the_fixed_ones() -> None:
    fixed = {"default_policy", "grpc_max_message_bytes"}  # docs/configuration.md: not configurable
    assert {f.name for f in attrs.fields(Settings)} - fixed == set(SERVE_SETTINGS)


def test_the_config_file_may_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path, "rest_port = 9999\n")
    monkeypatch.setenv("THREADGATE_CONFIG", str(config))
    assert parse(["serve"]).rest_port == 9999


def test_a_full_file_makes_settings(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        'host = "0.0.0.0"\nworkers = 2\nidempotency_window = 60\nrequire_openai_beta = false\n'
        'tls_cert = "/etc/tls/cert.pem"\ntls_key = "key.pem"\ntls_watch_interval = 0\n',
    )
    settings = settings_from(parse(["serve", "--config", str(config)]))
    assert settings.host == "0.0.0.0" and settings.workers == 2
    assert settings.idempotency_window.total_seconds() == 60 and not settings.require_openai_beta
    assert settings.tls_cert == Path("/etc/tls/cert.pem") and settings.tls_key == config.parent / "key.pem"
    assert settings.tls_watch_interval == 0.0


def test_keys_and_migrate_take_only_the_store_settings_from_the_file(tmp_path: Path) -> None:
    config = write(tmp_path, 'database = "memory"\ndefault_folder = "serve-only"\npg_pool_max = 3\n')
    for argv in (["keys", "create", "--folder", "f"], ["keys", "list"], ["migrate"]):
        args = parse([*argv, "--config", str(config)])
        assert args.database == "memory" and args.pg_pool_max == 3
    # `keys create --default-folder` is the key's own, not serve's setting of that name
    assert parse(["keys", "create", "--folder", "f", "--config", str(config)]).default_folder == ""
    assert set(STORE_SETTINGS) <= set(SERVE_SETTINGS)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("rest_prot = 1", ["'rest_prot'", "not a threadgate setting", "did you mean 'rest_port'"]),
        ("rest-port = 1", ["'rest-port'", "did you mean 'rest_port'"]),
        ("worker_role = '0:3'", ["'worker_role'", "not a threadgate setting"]),
        ('rest_port = "8080"', ["'rest_port'", "must be an integer", "not a string ('8080')"]),
        ("rest_port = true", ["'rest_port'", "must be an integer", "not a boolean"]),
        ("rest_port = 1.5", ["'rest_port'", "must be an integer", "not a number"]),
        ("body_timeout = 'soon'", ["'body_timeout'", "must be a number"]),
        ("allow_anonymous = 1", ["'allow_anonymous'", "must be a boolean"]),
        ("host = 127", ["'host'", "must be a string", "not an integer"]),
        ("tls_cert = ''", ["'tls_cert'", "must be a path"]),
        ("sqlite_synchronous = 'OFF'", ["'sqlite_synchronous'", "one of 'FULL', 'NORMAL', 'EXTRA'"]),
        ("[tls]\ncert = 'x'", ["'tls'", "not a threadgate setting"]),
        ("data_dir = ['a']", ["'data_dir'", "not an array"]),
        ("rest_port = ", ["not valid TOML", "line 1"]),
    ],
)
def test_a_bad_file_is_one_line_naming_the_key(text: str, words: list[str], tmp_path: Path) -> None:
    config = write(tmp_path, text + "\n")
    with pytest.raises(SystemExit) as info:
        parse(["serve", "--config", str(config)])
    message = str(info.value.code)
    assert message.startswith(f"threadgate: config file {config}: ") and "\n" not in message
    for word in words:
        assert word in message, message


def test_a_bad_file_stops_keys_and_migrate_too(tmp_path: Path) -> None:
    config = write(tmp_path, "rest_prot = 1\n")
    with pytest.raises(SystemExit, match="rest_prot"):
        parse(["migrate", "--config", str(config)])


def test_an_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match=r"cannot read the config file .*missing\.toml"):
        ConfigFile.read(tmp_path / "missing.toml")
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigFileError, match="not UTF-8"):
        ConfigFile.read(tmp_path / "binary.toml")


def test_an_empty_variable_still_beats_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A variable that is set wins, even empty: here it switches TLS off."""
    config = write(tmp_path, 'tls_cert = "c.pem"\n')
    monkeypatch.setenv("THREADGATE_TLS_CERT", "")
    assert parse(["serve", "--config", str(config)]).tls_cert is None


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("REST_PORT", "abc", "must be an integer, not 'abc'"),
        ("PG_POOL_MAX", "1.5", "must be an integer, not '1.5'"),
        ("BODY_TIMEOUT", "soon", "must be a number, not 'soon'"),
        # argparse checks choices of flags only: this one used to reach SQLite, which
        # takes a word it does not know as NORMAL, quietly below the FULL asked for
        ("SQLITE_SYNCHRONOUS", "bogus", "must be one of 'FULL', 'NORMAL', 'EXTRA', not 'bogus'"),
    ],
)
def test_a_bad_variable_is_one_line_naming_it(
    name: str, value: str, words: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"THREADGATE_{name}", value)
    with pytest.raises(SystemExit) as info:
        parse(["serve"])
    assert info.value.code == f"threadgate: THREADGATE_{name} {words}"
