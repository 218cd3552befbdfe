"""A provider with more than CHUNK_SIZE shards claims the reward in chunks, in order,
each one sent after the one before it is mined; the collector reassembles and
decrypts every shard (on the spec's F_BC, where 2,100 shards cost no gas).

Thorough profile only: about a minute, most of it in CID string conversions
(`multiformats` validates every call) over 2,100 shards.
"""

import os

import numpy as np
import pytest

from hyperx.impl.clients.collector import CollectorClient, Terms
from hyperx.impl.clients.ledger import Account, SpecLedger
from hyperx.impl.clients.provider import ProviderClient
from hyperx.impl.clients.session import Loop, load_task
from hyperx.impl.clients.state import MINED, StateStore
from hyperx.impl.datastore import EmbeddedStore
from hyperx.spec.chain import Blockchain
from hyperx.spec.config import CHUNK_SIZE
from tests.clients_harness import make_assessor

SHARDS = CHUNK_SIZE + 52
pytestmark = pytest.mark.skipif(
    os.environ.get("HYPERX_PROFILE") != "thorough", reason="about a minute: HYPERX_PROFILE=thorough"
)


def test_reward_claimed_in_chunks_when_shards_exceed_chunk_size(tmp_path):
    assessor = make_assessor()
    task = load_task(assessor.config, 0)
    repeats = -(-SHARDS // len(task.pool_x))
    dataset = np.tile(task.pool_x, (repeats, 1, 1))[:SHARDS], np.tile(task.pool_y, repeats)[:SHARDS]
    blockchain = Blockchain(finality_depth=1, genesis_time=1_700_000_000)
    collector_key, provider_key = Account.create(), Account.create()
    for key in (collector_key, provider_key):
        blockchain.fund(key.address, 10**20)
    ledger = SpecLedger(blockchain)
    store = EmbeddedStore(tmp_path / "store")
    collector = CollectorClient(
        ledger, collector_key, StateStore(tmp_path / "c.sqlite"), store, assessor
    )
    provider = ProviderClient(
        ledger, provider_key, StateStore(tmp_path / "p.sqlite"), store, dataset
    )
    collector.start_session(Terms(10**18, 10**16, 100, SHARDS, 3_600, 600, 600))
    Loop(ledger, [collector, provider]).run(300)

    sid = provider.session()
    chunks = [provider.state.intent(f"claim_reward:{sid}:{c}") for c in range(2)]
    assert [c.status for c in chunks] == [MINED, MINED]
    assert chunks[0].block_number < chunks[1].block_number
    assert [len(c.args[2]) for c in chunks] == [CHUNK_SIZE, SHARDS - CHUNK_SIZE]
    assert collector.facts()["dataset"] == f"{SHARDS} shards, {SHARDS} entries verified"
    assert provider.facts()["deposit_returned"] == 10**16
