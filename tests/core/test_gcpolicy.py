"""The CLI's garbage-collector policy (mock_server/gcpolicy.py): survivors frozen, frozen cycles found by a sweep."""

from __future__ import annotations

import gc
import weakref

import pytest

from mock_server.gcpolicy import GcPolicy


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def policy():
    policy = GcPolicy(floor=0)
    policy.install()
    yield policy
    policy.uninstall()


def test_survivors_of_an_older_generation_collection_are_frozen(policy: GcPolicy) -> None:
    before = gc.get_freeze_count()
    kept = [Node() for _ in range(1000)]
    gc.collect(1)
    assert gc.get_freeze_count() >= before + len(kept)
    assert policy.frozen >= before + len(kept)  # counted as frozen, without walking the permanent generation
    assert not any(o is kept[0] for o in gc.get_objects(generation=2))  # permanent, not in a generation


def test_a_frozen_cycle_that_dies_is_reclaimed_by_a_sweep_not_before(policy: GcPolicy) -> None:
    a, b = Node(), Node()
    a.other, b.other = b, a
    gc.collect(1)  # survives: frozen
    ref = weakref.ref(a)
    del a, b
    gc.collect()
    assert ref() is not None  # frozen: no collection looks at it
    policy.sweep()
    assert ref() is None
    assert policy.sweeps == 1


def test_a_sweep_waits_for_an_idle_moment_unless_the_frozen_set_grew_eightfold(policy: GcPolicy) -> None:
    policy.sweep()
    assert not policy.due(idle=True)
    kept = [Node() for _ in range(policy.swept_at + 10)]
    gc.collect(1)
    assert policy.due(idle=True) and not policy.due(idle=False)
    kept += [Node() for _ in range(6 * policy.swept_at)]
    gc.collect(1)
    assert policy.due(idle=False)
    policy.sweep()
    assert not policy.due(idle=True)
    del kept


def test_idle_means_almost_no_young_collections_since_the_last_look(policy: GcPolicy) -> None:
    policy.idle()
    assert policy.idle()
    for _ in range(policy.idle_collections + 1):
        gc.collect(0)
    assert not policy.idle()
    assert policy.idle()


def test_uninstall_leaves_the_collector_as_it_was() -> None:
    policy = GcPolicy()
    policy.install()
    policy.uninstall()
    assert gc.get_freeze_count() == 0
    assert policy._after_collection not in gc.callbacks
