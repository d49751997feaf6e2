"""OMNI scenarios (one store per account, exactly one default) and the failover flow (infobip.md §3, §5.5)."""

from __future__ import annotations

import functools

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ...core.lifecycle import Step, plan_for
from ...core.models import Status
from ...core.rules import Decision
from . import codec


@dataclass
class FlowStep:
    channel: str  # OmniChannel, upper case as sent (VIBER, SMS, ...)
    sender: str | None  # `from`: Viber sender name, SMS sender id, ...

    def to_json(self) -> dict[str, Any]:
        # The docs write `from` before `channel` (infobip.md §3.1).
        out: dict[str, Any] = {}
        if self.sender is not None:
            out["from"] = self.sender
        out["channel"] = self.channel
        return out


@dataclass
class Scenario:
    key: str  # 32 upper-case hex characters
    name: str | None
    flow: list[FlowStep]  # replaced as a whole by an update, never changed in place: sends share it
    default: bool = False
    _flow_json: tuple[list[FlowStep], list[dict[str, Any]]] | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return codec.scenario_json(self.key, self.name, [s.to_json() for s in self.flow], self.default)

    def flow_json(self) -> list[dict[str, Any]]:
        """The flow as JSON for the meta of the messages sent through it, one list per flow that they share: a list
        per send was ~500 bytes of every message sent one a request (bench/run.py --scenarios memory)."""
        if self._flow_json is None or self._flow_json[0] is not self.flow:
            self._flow_json = (self.flow, [s.to_json() for s in self.flow])
        return self._flow_json[1]


def flow_from(raw: list[Mapping[str, Any]]) -> list[FlowStep]:
    return [FlowStep(channel=str(s["channel"]), sender=None if s.get("from") is None else str(s["from"]))
            for s in raw]


def default_flag(body: Mapping[str, Any]) -> bool | None:
    """`default` as documented, or `defaultScenario` as the 2018 generated clients send it (infobip.md §3.1)."""
    if "default" in body and body["default"] is not None:
        return bool(body["default"])
    if "defaultScenario" in body and body["defaultScenario"] is not None:
        return bool(body["defaultScenario"])
    return None


class ScenarioStore:
    """One account's scenarios in creation order, with the default-scenario rules of infobip.md §3.2."""

    def __init__(self, new_key: Callable[[], str]) -> None:
        self._new_key = new_key
        self.items: dict[str, Scenario] = {}  # key -> scenario, creation order

    def default(self) -> Scenario | None:
        return next((s for s in self.items.values() if s.default), None)

    def _make_default(self, scenario: Scenario) -> None:
        for other in self.items.values():
            other.default = other is scenario

    def create(self, name: str | None, flow: list[FlowStep], default: bool | None, key: str | None = None) -> Scenario:
        scenario = Scenario(key or self._new_key(), name, flow)
        self.items[scenario.key] = scenario
        # "The first scenario you create for the account will be used as the default scenario. It will be used
        # until you set another scenario to be the default one." (infobip.com/docs/viber/business-messages/api)
        if default or self.default() is None:
            self._make_default(scenario)
        return scenario

    def update(self, scenario: Scenario, name: str | None, flow: list[FlowStep], default: bool | None) -> Scenario:
        """Full replacement; `default: false` on the current default leaves it default: there is always one."""
        scenario.name = name
        scenario.flow = flow
        if default:
            self._make_default(scenario)
        return scenario

    def list(self, is_default: bool | None, limit: int, page: int) -> list[Scenario]:
        matched = [s for s in self.items.values() if is_default is None or s.default == is_default]
        return matched[page * limit:(page + 1) * limit]


def config_key(account: str, index: int, name: str) -> str:
    """A start scenario without a configured key gets one that is stable across resets and runs."""
    return hashlib.md5(f"{account}:{index}:{name}".encode()).hexdigest().upper()


# --- the failover flow ------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Attempt:
    """One scenario step tried for one destination."""

    index: int  # position in the scenario flow
    channel: str
    sender: str | None
    data: Mapping[str, Any] | None  # the channel's data object (for /text: {"text": ...}); None: re-read (_finish)
    validity: float  # seconds
    decision: Decision
    started_at: float  # when this step began (mock time)
    sent_at: float | None = None
    done_at: float | None = None
    status: Status | None = None  # its final neutral status, once known

    @property
    def sent_or_started(self) -> float:
        """Its sentAt in reports and logs: when it was sent, or when it began if it never was."""
        return self.sent_at if self.sent_at is not None else self.started_at


def next_step(flow: list[FlowStep], data: Mapping[str, Mapping[str, Any]], after: int) -> int | None:
    """The index of the next step after `after` that can be tried: an emulated channel the send has data for.

    A step whose channel has no data object is passed over (infobip.md §5.5, decision 10)."""
    for i in range(after + 1, len(flow)):
        channel = flow[i].channel
        if channel in codec.EMULATED_CHANNELS and data.get(channel) is not None:
            return i
    return None


def step_decision(decision: Decision, channel: str) -> Decision:
    """Magic 55501 means "not reachable on Viber": only VIBER steps fail, so the SMS failover delivers (product.md §9).
    Rules set through the control API apply as written (a rule may name its channel)."""
    if decision.source.startswith("magic number") and decision.outcome == "undeliverable" and channel != "VIBER":
        return _viber_only(decision.source)
    return decision


@functools.lru_cache(maxsize=64)
def _viber_only(source: str) -> Decision:
    # Shared, like the core's magic-number decisions: one object per number, not per stored message.
    return Decision("delivered", f"{source} (affects Viber only)")


def step_plan(outcome: str, *, accept_to_sent: float, sent_to_final: float, validity: float) -> list[Step]:
    """A step's status changes from its start; a final state due after the validity period becomes EXPIRED then,
    which moves the flow on ("When the period expires, the message will be automatically sent using the next OMNI
    step", infobip.md §5.3)."""
    steps = plan_for(outcome, accept_to_sent=accept_to_sent, sent_to_final=sent_to_final, validity=validity)
    out: list[Step] = []
    elapsed = 0.0
    for step in steps:
        if step.status.final and step.status != Status.SEEN and elapsed + step.delay > validity:
            out.append(Step(max(validity - elapsed, 0.0), Status.EXPIRED, "validity period ended"))
            break
        elapsed += step.delay
        out.append(step)
    return out
