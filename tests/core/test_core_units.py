"""Core pieces on their own: rules and magic numbers, the scheduler on a manual clock, schemas, settings, phones."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any

import pytest

from mock_server.core.clock import ManualClock, SystemClock, iso_utc
from mock_server.core.lifecycle import GAP, Scheduler
from mock_server.core.phones import international, national, phone_keys
from mock_server.core.rules import MAGIC_NUMBERS, Outcomes, RuleError
from mock_server.core.schemas import SchemaRegistry
from mock_server.resources import schemas_dir
from mock_server.settings import Settings, SettingsError


@pytest.mark.parametrize("suffix, outcome", sorted(MAGIC_NUMBERS.items()))
def test_magic_numbers_by_last_five_digits_in_either_form(suffix, outcome):
    outcomes = Outcomes(seed=1)
    assert outcomes.decide("esms", "viber", "09012" + suffix).outcome == outcome
    assert outcomes.decide("infobip", "viber", "849012" + suffix).outcome == outcome


def test_unknown_numbers_are_delivered_by_default():
    assert Outcomes(seed=1).decide("esms", "viber", "0901234567").source == "default"


def test_probability_mix_is_seeded_and_reproducible():
    a = Outcomes(seed=42, mix={"delivered": 0.5, "undeliverable": 0.5})
    b = Outcomes(seed=42, mix={"delivered": 0.5, "undeliverable": 0.5})
    seq_a = [a.decide("esms", "viber", "0901234567").outcome for _ in range(50)]
    seq_b = [b.decide("esms", "viber", "0901234567").outcome for _ in range(50)]
    assert seq_a == seq_b and set(seq_a) == {"delivered", "undeliverable"}


def test_rules_channel_filter_and_bad_rules():
    outcomes = Outcomes(seed=1)
    outcomes.add_rule({"provider": "infobip", "channel": "sms", "outcome": "expired"})
    assert outcomes.decide("infobip", "viber", "0901234567").outcome == "delivered"
    assert outcomes.decide("infobip", "sms", "0901234567").outcome == "expired"
    with pytest.raises(RuleError):
        outcomes.add_rule({"outcome": "delivered"})


def test_scheduler_runs_due_jobs_in_order_including_those_scheduled_meanwhile():
    clock = ManualClock(start=1000)
    scheduler = Scheduler(clock)
    ran: list[tuple[str, float]] = []
    scheduler.register("note", lambda at, name: ran.append((name, at)))
    scheduler.register("chain", lambda at, name: (ran.append((name, at)), scheduler.at(at + 0.5, "note", name + "2")))
    scheduler.at(1002, "note", "b")
    scheduler.at(1001, "chain", "a")
    scheduler.at(1010, "note", "late")
    clock.advance(5)
    assert scheduler.run_due() == 3
    assert ran == [("a", 1001), ("a2", 1001.5), ("b", 1002)]
    assert len(scheduler) == 1
    assert [(j.kind, j.args) for j in scheduler.jobs()] == [("note", ("late",))]


def test_scheduler_survives_a_failing_job(caplog):
    clock = ManualClock(start=0)
    scheduler = Scheduler(clock)
    ran = []
    scheduler.register("boom", lambda at: 1 / 0)
    scheduler.register("ok", lambda at: ran.append(at))
    scheduler.at(1, "boom")
    scheduler.at(2, "ok")
    clock.advance(3)
    scheduler.run_due()
    assert ran == [2]
    assert "scheduled job boom() failed" in caplog.text


async def test_scheduler_on_the_real_clock_fires_by_timer_rearms_for_earlier_jobs_and_after_a_clock_jump():
    clock = SystemClock()
    scheduler = Scheduler(clock)
    ran: dict[str, asyncio.Event] = {name: asyncio.Event() for name in ("soon", "far", "jumped")}
    times: dict[str, float] = {}

    def note(at: float, name: str) -> None:
        times[name] = clock.now()
        ran[name].set()

    scheduler.register("note", note)
    scheduler.at(clock.now() + 3600, "note", "far")  # before the loop is attached: armed when run() starts
    task = asyncio.create_task(scheduler.run())
    try:
        due = clock.now() + 0.05
        scheduler.at(due, "note", "soon")  # due before the armed timer: it is re-armed for this one
        await asyncio.wait_for(ran["soon"].wait(), 5)
        assert times["soon"] >= due
        assert not ran["far"].is_set() and [j.args for j in scheduler.jobs()] == [("far",)]
        scheduler.at(clock.now() + 100, "note", "jumped")
        clock.advance(101)  # what Core.advance does on a real-clock server: the timer was armed for the old time
        scheduler.run_due()
        assert ran["jumped"].is_set()
        clock.advance(3600)
        scheduler.wake()
        await asyncio.wait_for(ran["far"].wait(), 5)
        assert len(scheduler) == 0
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_scheduler_runs_jobs_due_in_a_burst_together_at_most_a_gap_late():
    clock = SystemClock()
    scheduler = Scheduler(clock)
    done = asyncio.Event()
    late: list[float] = []

    def note(at: float, last: bool) -> None:
        late.append(clock.now() - at)
        if last:
            done.set()

    scheduler.register("note", note)
    run_due, wake_ups = scheduler.run_due, []
    scheduler.run_due = lambda: wake_ups.append(run_due()) or wake_ups[-1]  # type: ignore[method-assign]
    task = asyncio.create_task(scheduler.run())
    try:
        start = clock.now() + 0.05
        for i in range(50):  # one job every 0.1 ms over 5 ms: a wake-up for each would be 50
            scheduler.at(start + i * 0.0001, "note", i == 49)
        await asyncio.wait_for(done.wait(), 5)
        assert len(late) == 50 and min(late) >= 0  # never early
        assert max(late) < GAP + 0.5  # at most GAP late, plus the event loop's own latency on a loaded machine
        working = [n for n in wake_ups if n]
        assert sum(working) == 50 and len(working) <= 5  # 5 ms of jobs: a wake-up per GAP (and one more), not per job
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_scheduler_refuses_unknown_kinds():
    with pytest.raises(KeyError, match="no handler"):
        Scheduler(ManualClock()).at(1, "nobody")


def test_schema_violations_name_the_exact_path():
    registry = SchemaRegistry(schemas_dir())
    violations = registry.validate("esms/send_multiple_sms_ott.request",
                                   {"ApiKey": "k", "SecretKey": "s", "Brandname": "b", "Phones": ["1", {"x": 1}]})
    assert [(v.kind, v.path) for v in violations] == [("required", "SmsType"), ("type", "Phones[1]")]
    assert violations[1].message == "Phones[1] must be of type string or number, got object"


def test_every_schema_compiles_and_has_an_id():
    registry = SchemaRegistry(schemas_dir())
    assert "esms/send_multiple_sms_ott.request" in registry.names()
    for name, doc in registry.documents.items():
        assert doc["$id"].endswith(name + ".json"), name


def test_settings_precedence_flag_over_env_over_file(tmp_path: Path):
    config = tmp_path / "c.toml"
    config.write_text('[server]\nport = 9001\nhost = "127.0.0.2"\n[timing]\naccept_to_sent = 1.5\n')
    s = Settings.load(config, env={})
    assert (s.port, s.host, s.timing.accept_to_sent, s.timing.sent_to_final) == (9001, "127.0.0.2", 1.5, 0.5)
    s = Settings.load(config, env={"MOCK_SERVER_PORT": "9002", "MOCK_SERVER_CLOCK": "manual"})
    assert (s.port, s.clock) == (9002, "manual")
    s = Settings.load(config, env={"MOCK_SERVER_PORT": "9002"}, overrides={"port": 0, "seed": 7})
    assert (s.port, s.seed) == (0, 7)
    # --config outranks MOCK_SERVER_CONFIG (what the CLI passes as an override)
    s = Settings.load(env={"MOCK_SERVER_CONFIG": str(tmp_path / "missing.toml")}, overrides={"config": config})
    assert s.port == 9001


def test_an_empty_environment_variable_is_unset_and_no_flag_can_empty_the_host(tmp_path: Path):
    s = Settings.load(env={"MOCK_SERVER_HOST": "", "MOCK_SERVER_PORT": " ", "MOCK_SERVER_SEED": ""})
    assert (s.host, s.port, s.seed) == ("127.0.0.1", 8080, None)  # not "": that listens on every interface
    with pytest.raises(SettingsError, match="host must not be empty"):
        Settings.load(env={}, overrides={"host": ""})


def test_shipped_defaults_listen_on_loopback():
    s = Settings.load(env={})
    assert (s.host, s.port, s.clock, s.max_body_bytes) == ("127.0.0.1", 8080, "real", 1048576)
    assert s.provider("esms")["accounts"][0]["api_key"] == "ESMS_SANDBOX_KEY"


@pytest.mark.parametrize("text, env, message", [
    ("[server\n", {}, "not valid TOML"),
    ('[callbacks]\nschedule = "slow"\n', {}, "callbacks.schedule"),
    ("", {"MOCK_SERVER_PORT": "99999"}, "port"),
    ("", {"MOCK_SERVER_CLOCK": "sundial"}, "clock"),
    ("", {"MOCK_SERVER_STORE": "redis:x"}, "store"),
    ("", {"MOCK_SERVER_MAX_BODY_BYTES": "-1"}, "max_body_bytes must be at least 1, not -1"),
    ("", {"MOCK_SERVER_MAX_MESSAGES": "-5"}, "max_messages must be at least 0, not -5"),
    ('[[esms.accounts]]\napi_key = "k"\n', {}, r"esms.accounts\[0\]: 'secret_key' is a required property"),
    ('[server]\nport = "80"\n', {}, "server.port: '80' is not of type 'integer'"),
    ('[[nxcloud.accounts]]\naccess_key = "a"\naccess_secret = "b"\napps = [{ dr_webhook = "" }]\n', {},
     r"nxcloud.accounts\[0\].apps\[0\]: 'appkey' is a required property"),
    ("[outcomes]\nmix = { vanish = 0.5 }\n", {}, "outcomes.mix"),
    # Shares over 1 were taken in order, each cut to what was left: { undeliverable = 0.5, expired = 0.7 } expired half
    # the messages, not 70 %, and delivered none, without a word.
    ("[outcomes]\nmix = { undeliverable = 0.5, expired = 0.7 }\n", {},
     r"outcomes.mix: the shares add up to 1.2; at most 1 \(what is left is delivered\)"),
])
def test_settings_errors(tmp_path: Path, text, env, message):
    config = tmp_path / "c.toml"
    config.write_text(text)
    with pytest.raises(SettingsError, match=message):
        Settings.load(config, env=env)


def test_outcome_mix_shares_may_add_up_to_one_in_floating_point(tmp_path: Path):
    config = tmp_path / "c.toml"
    config.write_text("[outcomes]\nmix = { delivered = 0.7, undeliverable = 0.2, expired = 0.1 }\n")  # 0.9999999999999999
    assert Settings.load(config, env={}).outcome_mix == {"delivered": 0.7, "undeliverable": 0.2, "expired": 0.1}


def test_missing_config_file():
    with pytest.raises(SettingsError, match="cannot read config file"):
        Settings.load("/nonexistent/x.toml", env={})


def test_phone_forms():
    assert international("0901255500") == "84901255500"
    assert international("+84 901 255 500") == "84901255500"
    assert national("84901255500") == "0901255500"
    assert phone_keys("0901255500") == {"0901255500", "84901255500"}


def test_iso_utc_milliseconds():
    assert iso_utc(0.25) == "1970-01-01T00:00:00.250Z"


def test_index_buckets_hold_the_item_until_a_key_is_shared_and_keep_insertion_order() -> None:
    from types import SimpleNamespace

    from mock_server.core import buckets

    a, b, c = (SimpleNamespace(id=name) for name in "abc")
    index: dict[str, object] = {}
    buckets.add(index, "k", a)
    buckets.add(index, "k", a)  # the same item twice is one entry
    assert index == {"k": a} and list(buckets.items(index["k"])) == [a]
    buckets.add(index, "k", b)
    buckets.add(index, "k", c)
    assert list(buckets.items(index["k"])) == [a, b, c]
    buckets.remove(index, "k", b)
    buckets.remove(index, "k", SimpleNamespace(id="a"))  # another object with a's id is not a
    assert list(buckets.items(index["k"])) == [a, c]
    buckets.remove(index, "k", a)
    buckets.remove(index, "k", c)
    assert index == {} and list(buckets.items(index.get("k"))) == []
    buckets.add(index, "solo", a)
    buckets.remove(index, "solo", a)
    assert index == {}


def stored_message(n: int, status: Any = None) -> Any:
    """Message number `n` for the store tests: `m<n>`, its own SMSID and phone, in `status` (default: sent)."""
    from mock_server.core.models import Message, Status

    return Message(id=f"m{n}", provider="esms", provider_id=f"s{n}", account="k", phone=f"09{n:08d}",
                   phone_intl=f"849{n:08d}", channel="viber", content={}, created_at=float(n),
                   status=status or Status.SENT)


def add_message(store: Any, n: int) -> Any:
    """`stored_message(n)`, under way, added to `store`."""
    message = stored_message(n)
    store.add(message)
    return message


def test_bounded_store_evicts_oldest_final_first_and_forgets_removed_messages() -> None:
    from mock_server.core.models import Message, Status
    from mock_server.core.store import MemoryStore

    evicted: list[str] = []
    store = MemoryStore(max_messages=3, on_evict=lambda m: evicted.append(m.id))

    def message(n: int, status: Status = Status.DELIVERED) -> Message:
        return stored_message(n, status)

    store.add(message(0, Status.SENT))  # under way: kept while a final one is older than the newcomer
    for n in range(1, 4):
        store.add(message(n))
    assert evicted == ["m1"] and [m.id for m in store.all()] == ["m0", "m2", "m3"]
    for n in range(4, 5000):  # removed other than by eviction: the eviction order is compacted, not grown
        m = message(n)
        store.add(m)
        store.remove(m)
    assert len(store._order) + len(store._finals) + len(store._late) <= 4 * len(store) + 1024
    store.add(message(5000))
    assert evicted[-1] == "m2" and [m.id for m in store.all()] == ["m0", "m3", "m5000"]
    assert store.by_provider_id("esms", "s2") is None and store.by_provider_id("esms", "s3").id == "m3"


def test_bounded_store_evicts_by_age_when_messages_finish_out_of_order_and_the_oldest_of_all_when_none_is_final():
    from mock_server.core.models import Message, Status
    from mock_server.core.store import MemoryStore

    evicted: list[str] = []
    store = MemoryStore(max_messages=3, on_evict=lambda m: evicted.append(m.id))

    message = functools.partial(add_message, store)

    def finish(m: Message) -> None:  # as Core._record does
        store.changing(m, Status.DELIVERED)
        m.status = Status.DELIVERED

    m0, _m1, m2 = message(0), message(1), message(2)
    finish(m2)
    finish(m0)  # finished after a younger message: still the oldest final one
    message(3)
    assert evicted == ["m0"]
    message(4)
    assert evicted == ["m0", "m2"]
    message(5)  # m1, m3, m4 are all under way: the oldest of all goes
    assert evicted == ["m0", "m2", "m1"] and [m.id for m in store.all()] == ["m3", "m4", "m5"]
    m3, m4, m5 = (store.get(f"m{n}") for n in (3, 4, 5))
    finish(m4)
    finish(m5)
    store.remove(m5)  # the youngest final one leaves other than by eviction
    finish(m3)  # older than both: taken first all the same
    message(6)
    message(7)
    assert evicted == ["m0", "m2", "m1", "m3"]


def test_bounded_store_keeps_the_message_whose_add_compacts_the_eviction_order_in_its_age_place():
    """A compaction drops entries of messages no longer stored; the message being added when it runs is stored (its
    insertion number was once given only after the compaction, so it looked removed and left the age order)."""
    from mock_server.core.models import Status
    from mock_server.core.store import MemoryStore

    evicted: list[str] = []
    store = MemoryStore(max_messages=2, on_evict=lambda m: evicted.append(m.id))

    message = functools.partial(add_message, store)

    message(0)  # under way all along: the age order's front stays live, so what is evicted behind it piles up
    for n in range(1, 100_000):
        entries = len(store._order)
        newcomer = message(n)
        if len(store._order) < entries:
            break  # this add compacted the eviction order
        store.changing(newcomer, Status.DELIVERED)  # final: the next add evicts it
        newcomer.status = Status.DELIVERED
    else:
        raise AssertionError("no compaction happened")
    message(n + 1)  # nothing final: the oldest of all (m0) goes
    message(n + 2)  # nothing final: the oldest of all is now the newcomer
    assert evicted[-2:] == ["m0", newcomer.id]
    assert [m.id for m in store.all()] == [f"m{n + 1}", f"m{n + 2}"]


@pytest.mark.parametrize("seed", range(20))
def test_bounded_store_evicts_as_a_plain_scan_would(seed: int) -> None:
    """The eviction structures against the rule they implement, over random runs long enough to compact them: the
    oldest final message goes, else the oldest of all; messages finish out of order, stop being final again (a
    failover) and are removed other than by eviction."""
    import random

    from mock_server.core.models import Status
    from mock_server.core.store import MemoryStore

    rng = random.Random(seed)
    cap = rng.choice([2, 3, 5])
    pinned = seed % 2 == 0  # message 0 stays under way: what is evicted behind it piles up and gets compacted
    evicted: list[str] = []
    store = MemoryStore(max_messages=cap, on_evict=lambda m: evicted.append(m.id))
    model: list = []  # the stored messages, oldest first
    expected: list[str] = []
    for n in range(6000):
        keep_m0 = pinned and bool(model) and model[0].id == "m0"
        others = model[1:] if keep_m0 else model  # what the random changes and removals pick from
        op = rng.random()
        if op < 0.45 or not others:
            if keep_m0 and len(model) >= cap and not any(m.status.final for m in others):
                store.changing(others[0], Status.DELIVERED)  # something final to evict instead of message 0
                others[0].status = Status.DELIVERED
            message = stored_message(n, Status.DELIVERED if rng.random() < 0.05 else None)  # final: read back
            store.add(message)
            model.append(message)
            if len(model) > cap:
                victim = next((m for m in model if m.status.final), model[0])
                model.remove(victim)
                expected.append(victim.id)
        elif op < 0.9:
            message = rng.choice(others)
            status = rng.choice([Status.SENT, Status.DELIVERED, Status.UNDELIVERABLE, Status.SEEN])
            store.changing(message, status)
            message.status = status
        else:
            message = rng.choice(others)
            store.remove(message)
            model.remove(message)
        assert evicted == expected, (seed, n)
        assert [m.id for m in store.all()] == [m.id for m in model], (seed, n)


def test_shared_dicts_are_one_per_content_told_apart_by_type_and_lists_by_identity():
    # core/shared.py: equal meta dicts become one; True == 1 in Python but not in JSON, and a list (an Infobip flow)
    # is the same value only when it is the same list.
    from mock_server.core.shared import SharedDicts

    shared = SharedDicts(limit=3)
    flow = [{"channel": "VIBER"}]
    first = shared({"sent": True, "flow": flow})
    assert shared({"sent": True, "flow": flow}) is first
    assert shared({"sent": 1, "flow": flow}) == {"sent": 1, "flow": flow}
    assert shared({"sent": 1, "flow": flow}) is not first
    assert shared({"sent": True, "flow": [{"channel": "VIBER"}]}) is not first
    unhashable = {"sent": True, "tags": {"a"}}  # a set: not shared, returned as given
    assert shared(unhashable) is unhashable


def test_store_query_by_provider_lists_exactly_what_a_walk_of_the_whole_store_lists() -> None:
    """A provider filter walks that provider's id dict when it holds every one of its messages (bench/queries.py): the
    answer, order, totals and limits, stays the walk of the whole store's, provider ids reused and removed included."""
    import random

    from mock_server.core.models import Status
    from mock_server.core.store import MemoryStore

    rng = random.Random(8)
    store = MemoryStore(max_messages=60)
    kept: list[Any] = []
    statuses = (Status.SENT, Status.DELIVERED, Status.UNDELIVERABLE)
    for n in range(400):
        message = stored_message(n, rng.choice(statuses))
        message.provider = rng.choice(("esms", "infobip", "nxcloud"))
        if rng.random() < 0.15 and kept:  # a provider id reused (Infobip messageId, NXCLOUD requestId)
            message.provider_id = rng.choice(kept).provider_id
        store.add(message)
        kept.append(message)
        if rng.random() < 0.1:
            store.remove(rng.choice(kept))
        if rng.random() < 0.2:
            changed = rng.choice(kept)
            status = rng.choice(statuses)
            store.changing(changed, status)
            changed.status = status
        for provider in ("esms", "infobip", "nxcloud"):
            for status in (None, *statuses):
                for limit in (None, 1, 5):
                    whole = [m for m in reversed(list(store.all()))
                             if m.provider == provider and (status is None or m.status is status)]
                    items, total = store.query(provider=provider, status=status, limit=limit)
                    assert (items, total) == (whole[:limit], len(whole)), (n, provider, status, limit)
