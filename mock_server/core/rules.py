"""What happens to a message: explicit rules -> magic numbers -> seeded probability mix -> delivered (product.md §4).

Magic numbers, by the last five digits of the recipient's number, national or international form:

    55500 delivered            55503 rejected at submit (invalid number)     55506 blocked / blocklisted
    55501 undeliverable        55504 delivered, then seen                    55507 out of balance
    55502 expires (validity)   55505 delivered slowly (after 10 minutes)     55508 provider transient failure
"""

from __future__ import annotations

import functools

import itertools
import random
import re
from dataclasses import dataclass, field
from typing import Any

from .phones import international, last5, national, phone_keys

# Outcomes that end the message at submit: the provider answers the send with its own rejection code.
SUBMIT_OUTCOMES = frozenset({"rejected", "blocked", "no_balance", "provider_error"})
# Outcomes that go through the delivery lifecycle (lifecycle.plan_for).
DELIVERY_OUTCOMES = frozenset({"delivered", "seen", "undeliverable", "expired", "slow"})
OUTCOMES = SUBMIT_OUTCOMES | DELIVERY_OUTCOMES

MAGIC_NUMBERS: dict[str, str] = {
    "55500": "delivered",
    "55501": "undeliverable",
    "55502": "expired",
    "55503": "rejected",
    "55504": "seen",
    "55505": "slow",
    "55506": "blocked",
    "55507": "no_balance",
    "55508": "provider_error",
}


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: str  # one of OUTCOMES
    source: str  # "rule r_1", "magic number 55501", "mix", "default": shown in history and X-Mock-Reason
    rule: "Rule | None" = field(default=None, compare=False, repr=False)  # the rule that decided, to use it up


# Decisions without a rule are immutable and few: one shared object each, not one per stored message (every message's
# history keeps its decision's source; 100 000 messages kept 100 000 equal strings: bench/run.py memory).
_DEFAULT = Decision("delivered", "default")


@functools.lru_cache(maxsize=256)
def _magic_decision(outcome: str, suffix: str) -> Decision:
    return Decision(outcome, f"magic number {suffix}")


@functools.lru_cache(maxsize=32)
def _mix_decision(outcome: str) -> Decision:
    return Decision(outcome, "probability mix")


@dataclass
class Rule:
    id: str
    outcome: str
    phone: str | None = None  # exact number, either form
    phone_pattern: str | None = None  # regular expression searched in the international and the national form
    provider: str | None = None
    channel: str | None = None
    times: int | None = None  # remaining uses; None = permanent
    used: int = 0  # how many messages it decided
    _regex: re.Pattern[str] | None = field(default=None, repr=False)

    def matches(self, provider: str, channel: str, phone: str) -> bool:
        if self.provider and self.provider != provider:
            return False
        if self.channel and self.channel != channel:
            return False
        if self.phone and not (phone_keys(self.phone) & phone_keys(phone)):
            return False
        # Both forms (README "Rules"): `^0901` matches a send to 84901…, `^8490` one to 0901….
        if self._regex is not None and not any(self._regex.search(k) for k in phone_keys(phone) | {phone,
                                                                                                    national(phone)}):
            return False
        return True

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id}
        for key in ("phone", "phone_pattern", "provider", "channel"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        out["outcome"] = self.outcome
        out["times"] = self.times
        out["used"] = self.used
        return out


def dump_rng(rng: random.Random) -> list[Any]:
    """A seeded generator's state as JSON (the durable store keeps it, so ids and outcomes go on after a restart)."""
    version, state, gauss = rng.getstate()
    return [version, list(state), gauss]


def load_rng(rng: random.Random, saved: list[Any]) -> None:
    rng.setstate((saved[0], tuple(saved[1]), saved[2]))


class RuleError(ValueError):
    """A rule the control API must refuse, with a message naming the field."""


class Outcomes:
    """The decision procedure, with its explicit rules and its seeded random mix."""

    def __init__(self, *, seed: int | None, mix: dict[str, float] | None = None) -> None:
        self._seed = seed
        self.mix = dict(mix or {})
        self.reset()

    def reset(self) -> None:
        self.rules: list[Rule] = []  # oldest first; the newest matching rule wins
        self._ids = itertools.count(1)
        self.rng = random.Random(self._seed)

    def dump(self) -> dict[str, Any]:
        return {"rules": [r.to_json() for r in self.rules], "next_id": self._peek(), "rng": dump_rng(self.rng)}

    def _peek(self) -> int:
        value = next(self._ids)
        self._ids = itertools.count(value)
        return value

    def load(self, data: dict[str, Any]) -> None:
        self.rules = []
        for raw in data.get("rules", []):
            rule = self.add_rule({k: raw[k] for k in ("phone", "phone_pattern", "provider", "channel", "outcome", "times")
                                  if raw.get(k) is not None})
            rule.id, rule.used = raw["id"], raw.get("used", 0)
        self._ids = itertools.count(int(data.get("next_id", 1)))
        load_rng(self.rng, data["rng"])

    def use(self, *decisions: Decision) -> None:
        """Count the rules behind these decisions as used; a rule with `times` goes once used up."""
        for decision in decisions:
            rule = decision.rule
            if rule is None or not any(r is rule for r in self.rules):
                continue
            rule.used += 1
            if rule.times is not None:
                rule.times -= 1
                if rule.times <= 0:
                    self.rules.remove(rule)

    def add_rule(self, spec: dict[str, Any]) -> Rule:
        outcome = spec.get("outcome")
        if outcome not in OUTCOMES:
            raise RuleError(f"outcome must be one of {sorted(OUTCOMES)}")
        if not spec.get("phone") and not spec.get("phone_pattern") and not spec.get("provider"):
            raise RuleError("a rule needs phone, phone_pattern or provider")
        regex = None
        if spec.get("phone_pattern") is not None:
            try:
                regex = re.compile(spec["phone_pattern"])
            except (re.error, OverflowError, RecursionError) as exc:  # "a{4294967296}", 1 000 nested groups
                raise RuleError(f"phone_pattern is not a valid regular expression: {exc}") from None
        rule = Rule(
            id=f"r_{next(self._ids)}",
            outcome=outcome,
            phone=spec.get("phone"),
            phone_pattern=spec.get("phone_pattern"),
            provider=spec.get("provider"),
            channel=spec.get("channel"),
            times=spec.get("times"),
            _regex=regex,
        )
        self.rules.append(rule)
        return rule

    def remove_rule(self, rule_id: str) -> bool:
        before = len(self.rules)
        self.rules = [r for r in self.rules if r.id != rule_id]
        return len(self.rules) != before

    def decide(self, provider: str, channel: str, phone: str, *, consume: bool = True,
               pending: dict[str, int] | None = None) -> Decision:
        """The outcome for one message. With `consume=False` a rule is only looked at: the provider calls `use()` once
        the message is really sent (a sandbox send, or a request refused for another reason, uses no rule). `pending`
        counts such looks within one request, so a `times: 1` rule decides one of its messages, not all of them."""
        for rule in reversed(self.rules):
            if rule.times is not None and pending is not None and pending.get(rule.id, 0) >= rule.times:
                continue
            if rule.matches(provider, channel, phone):
                decision = Decision(rule.outcome, f"rule {rule.id}", rule)
                if consume:
                    self.use(decision)
                elif pending is not None:
                    pending[rule.id] = pending.get(rule.id, 0) + 1
                return decision
        magic = MAGIC_NUMBERS.get(international(phone)[-5:])  # already digits: last5() would strip them again
        if magic:
            return _magic_decision(magic, last5(phone))
        if self.mix:
            roll = self.rng.random()
            acc = 0.0
            for outcome, share in self.mix.items():
                acc += share
                if roll < acc:
                    return _mix_decision(outcome)
        return _DEFAULT
