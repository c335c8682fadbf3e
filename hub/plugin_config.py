"""Typed plugin configuration: a dataclass describes a plugin's section, the loader converts and checks it.

A section reaches the hub from ``[plugins.<name>]`` in the TOML file (typed
values) and from ``HUB_PLUGIN_<NAME>_<KEY>`` variables (always strings); the
hub merges them over the plugin's defaults (``hub.plugin_config(name)``).
:func:`load_plugin_config` turns that mapping into the plugin's own frozen
dataclass, converting each value to its field's type, and reports the first bad
value in one format, naming the plugin and the key::

    plugin 'presence': setting 'grace_seconds' must be a number, got 'soon'

as a :class:`~hub.config.ConfigError`, which stops the hub's start-up.

    @dataclass(frozen=True)
    class Config:
        greeting: str = setting("hello", "What the plugin says.")
        limit: int = setting(10, "Most items per page.", minimum=1)

    @hookimpl
    def hub_config_defaults() -> dict[str, Any]:
        return config_defaults(Config)

    config = load_plugin_config("echo", hub.plugin_config("echo"), Config)

Field types: ``str``, ``int``, ``float``, ``bool``, ``tuple[str, ...]`` (a list,
or names separated by commas).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from .config import ConfigError

S = TypeVar("S")
logger = logging.getLogger("hub.config")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class InvalidSetting(ValueError):
    """A value a schema refuses after conversion (from its ``__post_init__``, for checks across keys).

    The loader reports it as ``plugin '<name>': setting '<key>' <problem>``.
    """

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"setting {key!r} {problem}")


def setting(default: Any, help: str = "", *, minimum: float | None = None) -> Any:
    """A field of a configuration schema: its default, what it means, and the least value a number may take."""
    return dataclasses.field(default=default, metadata={"help": help, "minimum": minimum})


def config_defaults(schema: type) -> dict[str, Any]:
    """A schema's defaults, as ``hub_config_defaults`` returns them."""
    return {spec.name: spec.default for spec in _settings(schema)}


def settings_help(schema: type) -> dict[str, str]:
    """What each setting of a schema means (its ``help``)."""
    return {spec.name: str(spec.metadata.get("help", "")) for spec in _settings(schema)}


def load_plugin_config(plugin: str, values: Mapping[str, Any], schema: type[S]) -> S:
    """``values`` (``hub.plugin_config(plugin)``) converted into ``schema``, a dataclass of settings.

    A missing key takes the field's default. A value that cannot be converted,
    or is below its ``minimum``, raises :class:`ConfigError` naming ``plugin``
    and the key; so does an :class:`InvalidSetting` from the schema's
    ``__post_init__``. Keys the schema does not know are logged and ignored.
    """
    specs = _settings(schema)
    hints = typing.get_type_hints(schema)
    converted: dict[str, Any] = {}
    for spec in specs:
        raw = values.get(spec.name, spec.default)
        try:
            value = _convert(hints[spec.name], raw)
            minimum = spec.metadata.get("minimum")
            if minimum is not None and value < minimum:
                raise InvalidSetting(spec.name, f"must be at least {_number_text(minimum)}, got {raw!r}")
        except InvalidSetting as exc:
            raise ConfigError(f"plugin {plugin!r}: setting {spec.name!r} {exc.problem}") from None
        except ValueError as exc:
            raise ConfigError(f"plugin {plugin!r}: setting {spec.name!r} must be {exc}, got {raw!r}") from None
        converted[spec.name] = value
    unknown = sorted(set(values) - set(converted))
    if unknown:
        logger.warning("plugin %r: unknown setting(s) %s ignored", plugin, ", ".join(map(repr, unknown)))
    try:
        return schema(**converted)
    except InvalidSetting as exc:
        raise ConfigError(f"plugin {plugin!r}: {exc}") from None


def _settings(schema: type) -> tuple[dataclasses.Field[Any], ...]:
    if not dataclasses.is_dataclass(schema):
        raise TypeError(f"a plugin configuration schema is a dataclass, not {schema!r}")
    return tuple(spec for spec in dataclasses.fields(schema) if spec.init)


def _convert(kind: Any, raw: Any) -> Any:
    """``raw`` as ``kind``; ``ValueError`` whose message says what was expected ("a number")."""
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower() if isinstance(raw, (str, int)) else None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError("true or false")
    if kind is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, str):
            try:
                return int(raw.strip())
            except ValueError:
                pass
        raise ValueError("a whole number")
    if kind is float:
        try:
            number = float(raw) if isinstance(raw, (int, float, str)) and not isinstance(raw, bool) else math.nan
        except ValueError:
            number = math.nan
        if math.isnan(number):
            raise ValueError("a number")
        return number
    if kind is str:
        if isinstance(raw, (str, int, float)) and not isinstance(raw, bool):
            return str(raw)
        raise ValueError("a string")
    if typing.get_origin(kind) is tuple and typing.get_args(kind) == (str, Ellipsis):
        items = raw if isinstance(raw, (list, tuple)) else str(raw).split(",") if isinstance(raw, str) else None
        if items is None or not all(isinstance(item, str) for item in items):
            raise ValueError("a list of names (or names separated by commas)")
        return tuple(item.strip() for item in items if item.strip())
    raise TypeError(f"a plugin setting's type is str, int, float, bool or tuple[str, ...], not {kind!r}")


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


__all__ = ["InvalidSetting", "config_defaults", "load_plugin_config", "setting", "settings_help"]
