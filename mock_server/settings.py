"""Settings: command-line flag > environment (MOCK_SERVER_<NAME>) > config file (TOML) > shipped defaults (product.md §9)."""

from __future__ import annotations

import logging
import math
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from .resources import default_config_path

log = logging.getLogger(__name__)

ENV_PREFIX = "MOCK_SERVER_"


@dataclass(frozen=True)
class Timing:
    accept_to_sent: float = 0.2  # seconds of mock time from accepted to sent
    sent_to_final: float = 0.5  # seconds of mock time from sent to the final state (and delivered -> seen)
    default_validity: float = 86400.0  # when a provider names no validity period, a never-delivered message expires


@dataclass(frozen=True)
class CallbackSettings:
    timeout: float = 5.0
    max_attempts: int = 5  # every try, the first included
    schedule: str = "fast"  # "fast" (0.5 s, 1 s, 2 s ... capped at 30 s) or "provider" (documented schedules)
    allow_hosts: tuple[str, ...] = ()  # empty = any host
    concurrency: int = 64  # callbacks in flight at once, at most


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    config: Path | None = None  # the TOML file these settings came from (None = shipped defaults)
    seed: int | None = None
    clock: str = "real"  # real | manual
    store: str = "memory"  # memory | sqlite:PATH
    max_body_bytes: int = 1024 * 1024
    journal_max_entries: int = 5000  # [journal] max_entries: the request journal keeps the newest this many
    max_messages: int = 200_000  # [server] max_messages: the oldest final messages are evicted beyond it (0 = no cap)
    loop: str = "asyncio"  # [server] loop: asyncio, or uvloop (pip install 'viber-mock-server[fast]')
    timing: Timing = field(default_factory=Timing)
    callbacks: CallbackSettings = field(default_factory=CallbackSettings)
    outcome_mix: Mapping[str, float] = field(default_factory=dict)  # [outcomes] mix: seeded probability shares
    providers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # raw [esms], [infobip], [nxcloud]

    @classmethod
    def load(
        cls,
        config: str | Path | None = None,
        *,
        env: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> "Settings":
        """Build settings from a TOML file (or the shipped one), then the environment, then explicit overrides."""
        env = os.environ if env is None else env
        overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
        config = overrides.get("config") or env.get(ENV_PREFIX + "CONFIG") or config
        path = Path(config) if config else default_config_path()
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SettingsError(f"cannot read config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
        _check(data, path)
        settings = cls.from_dict(data, config=Path(config) if config else None)
        flat: dict[str, Any] = {}
        for name, conv in _FLAGS.items():
            # An empty variable is an unset one (CI writes MOCK_SERVER_HOST=${HOST} with HOST unset): an empty host
            # would listen on every interface.
            if env.get(ENV_PREFIX + name.upper(), "").strip():
                flat[name] = env[ENV_PREFIX + name.upper()]
        flat.update({k: v for k, v in overrides.items() if k in _FLAGS})
        try:
            changes = {name: _FLAGS[name](value) for name, value in flat.items()}
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        return replace(settings, **changes)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, config: Path | None = None) -> "Settings":
        """Settings from a parsed config document (the shape of product.md §3)."""
        server = data.get("server", {})
        timing = data.get("timing", {})
        callbacks = data.get("callbacks", {})
        try:
            return cls(
                host=str(server.get("host", cls.host)),
                port=int(server.get("port", cls.port)),
                config=config,
                seed=_opt_int(server.get("seed")),
                clock=_clock(server.get("clock", "real")),
                store=str(server.get("store", "memory")),
                max_body_bytes=int(server.get("max_body_bytes", 1024 * 1024)),
                journal_max_entries=int(data.get("journal", {}).get("max_entries", 5000)),
                max_messages=int(server.get("max_messages", 200_000)),
                loop=_choice("server.loop", server.get("loop", "asyncio"), ("asyncio", "uvloop")),
                timing=Timing(
                    accept_to_sent=float(timing.get("accept_to_sent", Timing.accept_to_sent)),
                    sent_to_final=float(timing.get("sent_to_final", Timing.sent_to_final)),
                    default_validity=float(timing.get("default_validity", Timing.default_validity)),
                ),
                callbacks=CallbackSettings(
                    timeout=float(callbacks.get("timeout", CallbackSettings.timeout)),
                    max_attempts=int(callbacks.get("max_attempts", CallbackSettings.max_attempts)),
                    schedule=_choice("callbacks.schedule", callbacks.get("schedule", "fast"), ("fast", "provider")),
                    allow_hosts=tuple(str(h) for h in callbacks.get("allow_hosts", ())),
                    concurrency=max(1, int(callbacks.get("concurrency", CallbackSettings.concurrency))),
                ),
                outcome_mix={str(k): float(v) for k, v in data.get("outcomes", {}).get("mix", {}).items()},
                providers={name: data.get(name, {}) for name in ("esms", "infobip", "nxcloud")},
            )
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"invalid configuration: {exc}") from None

    def provider(self, name: str) -> Mapping[str, Any]:
        """The raw config section of one provider (`[esms]`, `[[esms.accounts]]`, ...): each provider parses its own."""
        return self.providers.get(name, {})


class SettingsError(ValueError):
    """A configuration problem, reported on one line and exit status 2 by the CLI."""


def _check(data: Mapping[str, Any], path: Path) -> None:
    """The config file against schemas/config/config.json: one line naming the exact key, not a traceback later."""
    import json

    from jsonschema import Draft202012Validator

    from .core.schemas import format_path
    from .resources import schemas_dir

    # TOML has nan and inf, and every minimum/maximum of the schema lets them through (a comparison with nan is
    # false): a nan price made every NXCLOUD send a 9999, and a nan balance put NaN, no JSON, in GET /_mock/accounts.
    bad = _non_finite(data)
    if bad is not None:
        where, value = bad
        raise SettingsError(f"config file {path}: {format_path(where)}: {value} is not a finite number")
    schema = json.loads((schemas_dir() / "config" / "config.json").read_text(encoding="utf-8"))
    error = next(iter(sorted(Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.absolute_path))),
                 None)
    if error is not None:
        where = format_path(error.absolute_path) or "the file"
        raise SettingsError(f"config file {path}: {where}: {error.message}")
    # Names may grow (product.md §3), so a key the schema does not know is not refused; but a typo such as
    # `max_attempt = 6` was ignored without a word, and the setting the user meant silently kept its default.
    for where in _unknown_keys(data, schema, schema):
        log.warning("config file %s: %s is not a known key: ignored", path, format_path(where))
    # Shares are probabilities (product.md §4, "a configured probability mix"); rules.Outcomes.decide takes them in
    # order, so shares over 1 in all cut the later ones short without a word ({undeliverable = 0.5, expired = 0.7}
    # expired half the messages). fsum and a hair of tolerance: 0.7 + 0.2 + 0.1 is 0.9999999999999999 in floats.
    total = math.fsum(data.get("outcomes", {}).get("mix", {}).values())
    if total > 1 + 1e-9:
        raise SettingsError(f"config file {path}: outcomes.mix: the shares add up to {total:g}; at most 1 (what is "
                            "left is delivered)")


def _unknown_keys(value: Any, node: Any, root: Mapping[str, Any],
                  where: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The paths of the keys in `value` that its schema `node` names nowhere (an object with `properties` and no
    `additionalProperties`), through local `$ref`s, nested objects and array items."""
    for _ in range(8):  # a local `$ref` (#/$defs/...), followed a few times at most
        ref = node.get("$ref") if isinstance(node, dict) else None
        if not (isinstance(ref, str) and ref.startswith("#/")):
            break
        node = root
        for part in ref[2:].split("/"):
            node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return
    if isinstance(value, dict):
        props = node.get("properties")
        extra = node.get("additionalProperties")
        for key, sub in value.items():
            if isinstance(props, dict) and key in props:
                yield from _unknown_keys(sub, props[key], root, where + (key,))
            elif isinstance(extra, dict):
                yield from _unknown_keys(sub, extra, root, where + (key,))
            elif isinstance(props, dict) and extra is None:
                yield where + (key,)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for i, item in enumerate(value):
            yield from _unknown_keys(item, node["items"], root, where + (i,))


def _non_finite(value: Any, where: tuple[Any, ...] = ()) -> tuple[tuple[Any, ...], float] | None:
    """The path and value of the first nan or inf in a parsed config document (None: every number is finite)."""
    if isinstance(value, float) and not math.isfinite(value):
        return where, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _non_finite(item, (*where, key))
        if found is not None:
            return found
    return None


def _opt_int(value: Any, name: str = "seed") -> int | None:
    return None if value is None or value == "" else _int(name, value)


def _clock(value: Any) -> str:
    return _choice("clock", value, ("real", "manual"))


def _store(value: Any) -> str:
    value = str(value)
    # A path after "sqlite:", on one line, as the config schema's pattern wants: "sqlite:" alone got as far as the
    # store and ended in a traceback, and "sqlite:PATH\n" (a shell's stray newline) made a file whose name ends in one.
    if value != "memory" and not (value.startswith("sqlite:") and value[len("sqlite:"):] and "\n" not in value):
        raise ValueError(f"store must be 'memory' or 'sqlite:PATH', not {value!r}")
    return value


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return str(value)


def _host(value: Any) -> str:
    if not str(value).strip():
        raise ValueError("host must not be empty (0.0.0.0 or :: listen on all interfaces, if that is what you want)")
    return str(value)


def _int(name: str, value: Any) -> int:
    """int(value), refused in words naming the setting (Python's own "invalid literal for int() with base 10: '8o80'"
    said nothing of which variable it was)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, not {value!r}") from None


def _int_in(name: str, low: int, high: int | None = None) -> Callable[[Any], int]:
    """An integer flag within the range the config file's schema allows."""
    def convert(value: Any) -> int:
        number = _int(name, value)
        if high is not None and not low <= number <= high:
            raise ValueError(f"{name} must be {low}..{high}, not {number}")
        if number < low:
            raise ValueError(f"{name} must be at least {low}, not {number}")
        return number
    return convert


# The settings a flag or MOCK_SERVER_<NAME> can set, with their converters.
_FLAGS = {
    "host": _host,
    "port": _int_in("port", 0, 65535),
    "seed": _opt_int,
    "clock": _clock,
    "store": _store,
    "max_body_bytes": _int_in("max_body_bytes", 1),
    "max_messages": _int_in("max_messages", 0),
    "loop": lambda v: _choice("loop", v, ("asyncio", "uvloop")),
}
