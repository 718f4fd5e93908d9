"""Where the command finds the API and its key: a flag, else the environment, else a config file."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"
URL_ENV = "ENDOSCRIBE_URL"
KEY_ENV = "ENDOSCRIBE_API_KEY"
CONFIG_ENV = "ENDOSCRIBE_CONFIG"


class ConfigError(Exception):
    """The config file is unreadable or malformed; the message says which file and what to fix."""


@dataclass(frozen=True)
class Config:
    url: str
    api_key: str | None


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """`$ENDOSCRIBE_CONFIG`, else `$XDG_CONFIG_HOME/endoscribe/config.toml` (`~/.config` by default)."""
    env = os.environ if environ is None else environ
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]).expanduser()
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "endoscribe" / "config.toml"


def read_config_file(path: Path) -> dict[str, str]:
    """`url` and `api_key` from a TOML file; an absent file is an empty one."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc}") from exc
    unknown = sorted(set(data) - {"url", "api_key"})
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}; it may hold url and api_key")
    if not all(isinstance(value, str) for value in data.values()):
        raise ConfigError(f"{path}: url and api_key must be strings (in quotes)")
    return dict(data)


def resolve(url: str | None, api_key: str | None, config_path: Path | None = None,
            environ: Mapping[str, str] | None = None) -> Config:
    """Each of URL and key from the first that has it: the flag, the environment, the config file."""
    env = os.environ if environ is None else environ
    path = config_path or default_config_path(env)
    from_file = read_config_file(path)
    resolved_url = url or env.get(URL_ENV) or from_file.get("url") or DEFAULT_URL
    resolved_key = api_key or env.get(KEY_ENV) or from_file.get("api_key") or None
    return Config(url=resolved_url.rstrip("/"), api_key=resolved_key)
