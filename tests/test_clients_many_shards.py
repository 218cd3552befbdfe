"""A provider with thousands of shards claims the reward in one transaction (the master
key, sealed), and the collector derives every shard key from it, checks each against
the manifest and decrypts every shard it fetched before naming the candidate (on the
spec's F_BC, where 2,100 shards cost no gas).

Thorough profile only: about a minute, most of it in CID string conversions
(`multiformats` validates every call) over 2,100 shards.
"""

import os

import numpy as np
import pytest

from hyperx.impl.clients.collector import CollectorClient, Terms
from hyperx.impl.clients.devchain import DevClock
from hyperx.impl.clients.ledger import Account
from hyperx.impl.clients.provider import ProviderClient
from hyperx.impl.clients.session import Loop, load_task, spec_venue
from hyperx.impl.clients.state import MINED, StateStore
from hyperx.impl.datastore import EmbeddedStore
from tests.clients_harness import D, R, make_assessor

SHARDS = 2_100
pytestmark = pytest.mark.skipif(
    os.environ.get("HYPERX_PROFILE") != "thorough", reason="about a minute: HYPERX_PROFILE=thorough"
)


def test_reward_claimed_in_one_transaction_whatever_the_shard_count(tmp_path):
    assessor = make_assessor()
    task = load_task(assessor.config, 0)
    repeats = -(-SHARDS // len(task.pool_x))
    dataset = np.tile(task.pool_x, (repeats, 1, 1))[:SHARDS], np.tile(task.pool_y, repeats)[:SHARDS]
    venue = spec_venue()
    collector_key, provider_key = Account.create(), Account.create()
    for key in (collector_key, provider_key):
        venue.fund(key.address, 10 * R)
    store = EmbeddedStore(tmp_path / "store")
    collector = CollectorClient(
        venue.ledger, collector_key, StateStore(tmp_path / "c.sqlite"), store, assessor
    )
    provider = ProviderClient(
        venue.ledger, provider_key, StateStore(tmp_path / "p.sqlite"), store, dataset
    )
    collector.start_session(Terms(R, D, 100, SHARDS, 3_600, 600, 600))
    Loop(venue.ledger, [collector, provider], DevClock(venue.ledger)).run(300)

    sid = provider.session()
    claim = provider.state.intent(f"claim_reward:{sid}")
    assert claim.status == MINED and len(claim.hashes) == 1
    assert [type(arg) for arg in claim.args] == [int, bytes, bytes]  # sid, ephemeral, sealed K
    assert len(provider.state.intent(f"submit_review:{sid}").args[1]) == SHARDS // 100
    assert collector.facts()["dataset"] == f"{SHARDS} shards, {SHARDS} entries verified"
    assert provider.facts()["payout"] == D + R
