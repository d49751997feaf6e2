"""Fault injection (/_mock/faults): latency, HTTP 5xx/429 in the provider's envelope, dropped connections, or a
forced provider error code — for a seeded share of matching requests, or the next N (Mailpit's "chaos", as data).

A root middleware applies them before the provider sees the request, so a faulted request changes no state.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Protocol

from aiohttp import web

from .core.errors import reason_header
from .core.rules import dump_rng, load_rng
from .httputil import json_response
from .journal import current_entry, provider_of

ACTIONS = ("latency", "http_error", "drop", "provider_code")


class FaultRenderer(Protocol):
    def __call__(self, request: web.Request, *, status: int | None, code: Any, reason: str) -> web.StreamResponse: ...


@dataclass
class Fault:
    id: str
    action: str  # latency | http_error | drop | provider_code
    provider: str | None = None  # None = every provider
    endpoint: str | None = None  # case-insensitive substring of the path; None = every endpoint
    latency_ms: tuple[float, float] | None = None  # fixed (a, a) or a range, for latency
    status: int | None = None  # 500, 503, 429 ... for http_error
    code: Any = None  # the provider's own code, for provider_code (eSMS "99", NXCLOUD 9001, Infobip a status)
    share: float | None = None  # probability per matching request (seeded); None = every one
    times: int | None = None  # remaining uses; None = until removed
    hits: int = 0  # requests it was applied to

    def matches(self, provider: str | None, path: str) -> bool:
        if self.provider is not None and self.provider != provider:
            return False
        return self.endpoint is None or self.endpoint.lower() in path.lower()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "action": self.action}
        for key in ("provider", "endpoint", "status", "code", "share", "times"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.latency_ms is not None:
            low, high = self.latency_ms
            out["latency_ms"] = low if low == high else [low, high]
        out["hits"] = self.hits
        return out


class FaultError(ValueError):
    """A fault the control API refuses, naming the field."""


@dataclass
class Faults:
    seed: int | None
    faults: list[Fault] = field(default_factory=list)  # oldest first; the newest matching non-latency fault wins

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.faults = []
        self._ids = itertools.count(1)
        self.rng = random.Random(self.seed)

    def add(self, spec: dict[str, Any]) -> Fault:
        action = spec["action"]
        latency = spec.get("latency_ms")
        if action == "latency":
            if latency is None:
                raise FaultError("latency_ms is required for action latency")
            low, high = (latency, latency) if isinstance(latency, (int, float)) else tuple(latency)
            if low > high:
                raise FaultError("latency_ms range must be [low, high] with low <= high")
            latency = (float(low), float(high))
        elif latency is not None:
            raise FaultError(f"latency_ms applies only to action latency, not {action}")
        # A field of another action is refused as latency_ms is: the renderers answer a code before a status, so an
        # http_error fault that carried a code answered HTTP 200 with it (README "Faults": status is http_error's,
        # code provider_code's).
        if action != "provider_code" and spec.get("code") is not None:
            raise FaultError(f"code applies only to action provider_code, not {action}")
        if action != "http_error" and spec.get("status") is not None:
            raise FaultError(f"status applies only to action http_error, not {action}")
        if action == "http_error" and spec.get("status") is None:
            raise FaultError("status is required for action http_error (e.g. 500, 503, 429)")
        if action == "provider_code" and spec.get("code") is None:
            raise FaultError("code is required for action provider_code (e.g. eSMS \"99\", NXCLOUD 9001)")
        if action == "provider_code" and spec.get("provider") is None:
            raise FaultError("provider is required for action provider_code: codes are per provider")
        fault = Fault(
            id=f"f_{next(self._ids)}", action=action, provider=spec.get("provider"), endpoint=spec.get("endpoint"),
            latency_ms=latency, status=spec.get("status"), code=spec.get("code"), share=spec.get("share"),
            times=spec.get("times"),
        )
        self.faults.append(fault)
        return fault

    def dump(self) -> dict[str, Any]:
        faults = []
        for f in self.faults:
            raw = f.to_json()
            raw["latency_ms"] = list(f.latency_ms) if f.latency_ms is not None else None
            faults.append(raw)
        value = next(self._ids)
        self._ids = itertools.count(value)
        return {"faults": faults, "next_id": value, "rng": dump_rng(self.rng)}

    def load(self, data: dict[str, Any]) -> None:
        self.faults = []
        for raw in data.get("faults", []):
            # A fault stored before fields of other actions were refused keeps only its own action's.
            skip = {"id", "hits"} | ({"code"} if raw["action"] != "provider_code" else set()) | (
                {"status"} if raw["action"] != "http_error" else set())
            fault = self.add({k: v for k, v in raw.items() if k not in skip and v is not None})
            fault.id, fault.hits = raw["id"], raw.get("hits", 0)
        self._ids = itertools.count(int(data.get("next_id", 1)))
        load_rng(self.rng, data["rng"])

    def remove(self, fault_id: str) -> bool:
        before = len(self.faults)
        self.faults = [f for f in self.faults if f.id != fault_id]
        return len(self.faults) != before

    def pick(self, provider: str | None, path: str) -> list[Fault]:
        """The faults to apply to this request: every matching latency, then at most one other (the newest)."""
        chosen: list[Fault] = []
        other: Fault | None = None
        for fault in reversed(self.faults):
            if not fault.matches(provider, path):
                continue
            if fault.action != "latency" and other is not None:
                continue
            if fault.share is not None and self.rng.random() >= fault.share:
                continue
            fault.hits += 1
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
            if fault.action == "latency":
                chosen.append(fault)
            else:
                other = fault
        return chosen + ([other] if other else [])


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def fault_middleware(faults: Faults, renderers: dict[str, FaultRenderer]) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not faults.faults:
            return await handler(request)
        provider = provider_of(request.path)
        if provider is None:
            return await handler(request)
        picked = faults.pick(provider, request.path)
        if not picked:
            return await handler(request)
        entry = current_entry.get()
        names = []
        for fault in picked:
            names.append(f"fault {fault.id} ({fault.action})")
            if entry is not None:
                entry.fault = ", ".join(names)
            if fault.action == "latency":
                low, high = fault.latency_ms or (0.0, 0.0)
                await asyncio.sleep((low if low == high else faults.rng.uniform(low, high)) / 1000)
                continue
            reason = f"fault {fault.id}: injected {fault.action}"
            if fault.action == "drop":
                # Close the connection without a byte of answer, as a crashed or overloaded gateway does.
                if request.transport is not None:
                    request.transport.abort()
                raise asyncio.CancelledError
            render = renderers.get(provider, generic_fault)
            return render(request, status=fault.status, code=fault.code, reason=reason)
        return await handler(request)

    return middleware


def generic_fault(request: web.Request, *, status: int | None, code: Any, reason: str) -> web.StreamResponse:
    return json_response({"error": reason, "code": code}, status=status or 200, headers=reason_header(reason))
