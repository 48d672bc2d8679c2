"""``--config FILE``: the settings of ``threadgate`` in a TOML file.

Every flag that takes a value has a key: its long name with ``_`` for ``-``
(``--rest-port`` is ``rest_port``, ``--tls-cert`` is ``tls_cert``), and its on/off
flags take a boolean (``allow_anonymous = true``, ``require_openai_beta = false``).  The
file is flat: keys at the top, no tables.

Precedence, per setting: a flag given on the command line, then its ``THREADGATE_*``
environment variable, then the file, then the built-in default.  The file only changes
the defaults argparse falls back to, and only for settings whose variable is unset; each
variable is ``THREADGATE_`` and the key in capitals.

Paths in the file (``data_dir``, ``tls_cert`` …) are relative to the file's folder.  An
unknown key or a value of the wrong type stops the command with one line naming the key.
"""

from __future__ import annotations

import argparse
import difflib
import tomllib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

# not settings: the subcommand, the help, the file itself, and the supervisor's hidden flag
_NOT_SETTINGS = frozenset({"help", "command", "keys_command", "config", "worker_role"})


class ConfigFileError(Exception):
    """A config file that cannot be used; the message is one line and names the key."""


def env_name(key: str) -> str:
    return f"THREADGATE_{key.upper()}"


def settings_of(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The actions of ``parser`` that a config file may set, by key."""
    return {
        action.dest: action
        for action in parser._actions  # argparse keeps no public list of them
        if action.dest not in _NOT_SETTINGS and action.option_strings
    }


def _kind(action: argparse.Action) -> str:
    if action.nargs == 0:  # store_true / store_false
        return "a boolean (true or false)"
    if action.type is int:
        return "an integer"
    if action.type is float:
        return "a number"
    if action.type is Path:
        return "a path (a string)"
    return "a string"


def _toml_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def _convert(action: argparse.Action, value: object, base: Path) -> object:
    """``value`` as ``action`` stores it; raises ValueError (its kind) if it cannot be."""
    if action.nargs == 0:
        if isinstance(value, bool):
            return value
    elif isinstance(value, bool):
        pass  # TOML's true is no integer, whatever Python thinks
    elif action.type is int and isinstance(value, int):
        return value
    elif action.type is float and isinstance(value, int | float):
        return float(value)
    elif action.type is Path and isinstance(value, str) and value:
        return base / Path(value).expanduser()
    elif action.type is None and isinstance(value, str):
        if action.choices is not None and value not in action.choices:
            choices = ", ".join(repr(c) for c in action.choices)
            raise ValueError(f"one of {choices}")
        return value
    raise ValueError(_kind(action))


class ConfigFile:
    """The values of one TOML file, to lay under the environment of a parser."""

    def __init__(self, path: Path, values: Mapping[str, object]) -> None:
        self.path = path
        self.values = dict(values)

    @classmethod
    def read(cls, path: Path) -> ConfigFile:
        try:
            text = path.read_bytes().decode("utf-8")
        except OSError as exc:
            raise ConfigFileError(f"cannot read the config file {path}: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigFileError(f"config file {path}: not UTF-8 text") from exc
        try:
            values = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigFileError(f"config file {path}: not valid TOML: {exc}") from exc
        return cls(path, values)

    def _error(self, key: str, message: str) -> ConfigFileError:
        return ConfigFileError(f"config file {self.path}: {key!r} {message}")

    def check(self, parser: argparse.ArgumentParser) -> None:
        """Every key must be a setting of ``parser``, and every value of its type."""
        known = settings_of(parser)
        for key, value in self.values.items():
            action = known.get(key)
            if action is None:
                close = difflib.get_close_matches(key.replace("-", "_"), list(known), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise self._error(key, f"is not a threadgate setting{hint}")
            try:
                _convert(action, value, self.path.parent)
            except ValueError as exc:
                raise self._error(key, f"must be {exc}, not {_toml_type(value)}") from None

    def lay_under(
        self,
        parser: argparse.ArgumentParser,
        environ: Mapping[str, str],
        only: Collection[str] | None = None,
    ) -> None:
        """Make the file's values ``parser``'s defaults, for the settings it has (of
        ``only``, if given) whose environment variable is unset: the variable, and then a
        flag, still win."""
        known = settings_of(parser)
        defaults: dict[str, Any] = {}
        for key, value in self.values.items():
            action = known.get(key)
            if only is not None and key not in only:
                continue
            if action is not None and env_name(key) not in environ:
                defaults[key] = _convert(action, value, self.path.parent)
        parser.set_defaults(**defaults)
