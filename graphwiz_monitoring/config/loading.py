"""Finding, reading and validating monitoring.yaml: ``${VAR:-default}`` expansion and ConfigError messages."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError as PydanticValidationError

from graphwiz_monitoring.config.masking import MASK, SECRET_KEYS, VALUE_FREE_ERROR
from graphwiz_monitoring.config.settings import Settings
from graphwiz_monitoring.errors import ConfigError

CONFIG_ENV_VAR = "GRAPHWIZ_CONFIG"
REDIS_URL_ENV_VAR = "GRAPHWIZ_REDIS_URL"
DEFAULT_CONFIG_FILE = "monitoring.yaml"

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _substitute(node: Any, env: Mapping[str, str], path: str | None, problems: list[str]) -> Any:
    if isinstance(node, dict):  # path None is the root (an empty key "" is still a key)
        return {k: _substitute(v, env, str(k) if path is None else f"{path}.{k}", problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, env, f"{path or ''}[{i}]", problems) for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:
        def repl(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            problems.append(f"{path}: environment variable {name} is not set (use ${{{name}:-default}} for a default)")
            return ""
        return _ENV_REF.sub(repl, node)
    return node


def _is_secret_path(loc: tuple[Any, ...]) -> bool:
    names = {str(p) for p in loc}
    return bool(names & SECRET_KEYS) and not (names & {"prometheus_url", "api_base"})


def _nested_secrets(node: Any, under: bool = False) -> list[str]:
    """Values under secret-named keys anywhere inside ``node`` (a section misplaced into another one)."""
    if isinstance(node, Mapping):
        return [s for k, v in node.items() for s in _nested_secrets(v, under or str(k) in SECRET_KEYS)]
    if isinstance(node, (list, tuple, set)):
        return [s for v in node for s in _nested_secrets(v, under)]
    return [str(node)] if under and node is not None and len(str(node)) >= 4 else []


def _describe(error: Mapping[str, Any]) -> str:
    loc = tuple(p for p in error["loc"] if not str(p).startswith("function-"))
    path = ".".join(str(p) for p in loc) or "(root)"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"{path}: unknown key"
    if error["type"] == VALUE_FREE_ERROR:  # its message names no part of the value (e.g. only a URL scheme)
        return f"{path}: {message}"
    shown = MASK if _is_secret_path(loc) else repr(error.get("input"))
    if "got " in message or isinstance(error.get("input"), Mapping):  # our own validators already name the value
        text = f"{path}: {message}" if not _is_secret_path(loc) else f"{path}: invalid value {MASK}"
    else:
        text = f"{path}: {message}, got {shown}"
    for secret in sorted(_nested_secrets(error.get("input")), key=len, reverse=True):  # echoed containers
        text = text.replace(secret, MASK).replace(repr(secret)[1:-1], MASK)
    return text


def parse_settings(data: Mapping[str, Any] | None, *, source: str | None = None,
                   env: Mapping[str, str] | None = None) -> Settings:
    """Validate a configuration mapping (as loaded from YAML or given to create_monitor)."""
    env = os.environ if env is None else env
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError([f"(root): must be a mapping of sections, got {type(data).__name__}"], source)
    problems: list[str] = []
    try:
        resolved = _substitute(dict(data), env, None, problems)
    except RecursionError:  # hundreds of levels: no real configuration nests like that
        raise ConfigError(["(root): nested too deeply"], source) from None
    if env.get(REDIS_URL_ENV_VAR):
        redis_section = resolved.get("redis")
        resolved["redis"] = {**(redis_section if isinstance(redis_section, dict) else {}), "url": env[REDIS_URL_ENV_VAR]}
    try:
        settings = Settings.model_validate(resolved)
    except PydanticValidationError as exc:
        problems.extend(_describe(e) for e in exc.errors())
        settings = None
    if problems or settings is None:
        raise ConfigError(problems, source)
    return settings


def find_config_file(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Path | None:
    """The file to load: explicit path, then $GRAPHWIZ_CONFIG, then ./monitoring.yaml (None if absent)."""
    env = os.environ if env is None else env
    if path:
        return Path(path)
    if env.get(CONFIG_ENV_VAR):
        return Path(env[CONFIG_ENV_VAR])
    default = Path.cwd() / DEFAULT_CONFIG_FILE
    return default if default.exists() else None


def load_settings(path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None) -> Settings:
    """Find, read, substitute and validate the configuration; raises ConfigError listing every problem."""
    file = find_config_file(path, env)
    if file is None:
        return parse_settings({}, source="defaults", env=env)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"cannot read config file: {exc.strerror}"], str(file)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"not UTF-8 text: invalid byte at offset {exc.start}"], str(file)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"not valid YAML: {exc}"], str(file)) from None
    except RecursionError:  # PyYAML's parser recurses once per level of [ or {
        raise ConfigError(["not valid YAML: nested too deeply"], str(file)) from None
    return parse_settings(data or {}, source=str(file), env=env)
