"""Prot_COL and Prot_PRI driven by F_BC: whole sessions, honest and Byzantine.

Each test drives `hyperx.spec.schedule.World` with plain instructions and checks
the real world's money, outcome and what the collector can read, and that the
ideal world (through the simulator) agrees.
"""

import pytest

from hyperx.spec.chain import Blockchain
from hyperx.spec.config import BPS
from hyperx.spec.ideal import (
    ABORTED_AFTER_REVIEW,
    CANDIDATE_FORFEITED,
    CLAIM_REJECTED,
    DEAL_CLOSED,
    NO_DEAL,
    OPTIMAL_FORFEITED,
    REVIEW_REJECTED,
)
from hyperx.spec.parties import compute_ranking, compute_sample_size, find_wrong_shard_key
from hyperx.spec.schedule import COLLECTOR_FUNDS, PROVIDER_FUNDS, World
from hyperx.spec.sealing import compute_key_hash, compute_shard_key
from hyperx.verify.refinement import check_chain, compare_worlds, run_to_completion

REWARD, DEPOSIT, PCT_BPS, SHARDS = 10_000, 1_000, 2_500, 8
COMPENSATION = REWARD * PCT_BPS // BPS


def start(world: World, qualities=(3, 8, 5), threshold=100, shards=SHARDS) -> None:
    world.apply(
        {
            "op": "start_session",
            "reward": REWARD,
            "deposit": DEPOSIT,
            "pct_bps": PCT_BPS,
            "shards": shards,
            "evaluation_s": 600,
            "threshold": threshold,
        }
    )
    world.apply({"op": "advance", "seconds": 3})
    for provider, quality in enumerate(qualities):
        world.apply({"op": "join", "provider": provider, "sid": 0, "quality": quality})


def step_until(world: World, predicate) -> None:
    world.mine_until(predicate)


def view(world: World):
    return world.views()[0]


def call(world: World, party: str, interface: str, variant="honest", target=0) -> None:
    world.call_now(party, interface, variant, target)


def finish(world: World):
    run_to_completion(world)  # every invariant, no stuck funds, real == ideal
    return world.observables()[0]


def balance(world: World, name: str) -> int:
    return world.chain.balance(world.address[name])


def all_shards(sid: int, name: str, shards: int = SHARDS) -> set:
    return {(sid, name, i) for i in range(shards)}


def test_all_honest_session_closes_with_the_best_provider():
    world = World()
    start(world, qualities=(3, 8, 5))
    real = finish(world)
    assert real.outcomes == {0: (DEAL_CLOSED, "P1", "P1")}
    assert balance(world, "P1") == PROVIDER_FUNDS + REWARD
    assert balance(world, "P0") == balance(world, "P2") == PROVIDER_FUNDS
    assert balance(world, "C") == COLLECTOR_FUNDS - REWARD
    acquired = world.collector.acquired[(0, world.address["P1"])]
    assert acquired.verified
    assert [acquired.plaintexts[i] for i in range(SHARDS)] == world.providers[1].holdings[
        0
    ].plaintexts
    assert real.collector_reads == all_shards(0, "P1")
    # Each provider was sampled once, within CF_%
    assert all(len(s) == compute_sample_size(SHARDS, PCT_BPS) for s in view(world).samples.values())


def test_no_provider_above_threshold_expires_and_returns_everything():
    world = World()
    start(world, qualities=(1, 2, 3), threshold=9_000)
    real = finish(world)
    assert real.outcomes == {0: (NO_DEAL, None, None)}
    assert real.balances == {
        "C": COLLECTOR_FUNDS,
        "P0": PROVIDER_FUNDS,
        "P1": PROVIDER_FUNDS,
        "P2": PROVIDER_FUNDS,
    }
    assert real.collector_reads == frozenset()
    assert world.chain.balance("0x" + "c0" * 20) == 0


def test_post_review_abortion_pays_the_candidate_compensation():
    world = World()
    start(world, qualities=(3, 8, 5))
    # The collector turns Byzantine when P1's review arrives, and never promotes it
    world.apply({"op": "corrupt", "party": "C", "at": "SubmitReview"})
    real = finish(world)
    assert real.outcomes == {0: (ABORTED_AFTER_REVIEW, "P1", None)}
    assert balance(world, "P1") == PROVIDER_FUNDS + COMPENSATION
    sample = set(view(world).samples[world.address["P1"]])
    assert real.collector_reads == {(0, "P1", i) for i in sample}
    # The adversary (the collector) learned exactly the ideal leak: the sample
    assert real.adversary_reads == real.collector_reads


def test_silent_candidate_forfeits_its_deposit():
    world = World()
    start(world, qualities=(3, 8, 5))
    step_until(world, lambda w: len(view(w).features) == 3)
    world.apply({"op": "corrupt", "party": "P1", "at": "now"})  # chosen, then silent
    real = finish(world)
    assert real.outcomes == {0: (CANDIDATE_FORFEITED, "P1", None)}
    assert balance(world, "C") == COLLECTOR_FUNDS + DEPOSIT
    assert balance(world, "P0") == balance(world, "P2") == PROVIDER_FUNDS
    assert real.collector_reads == frozenset()


def test_silent_optimal_provider_forfeits_its_deposit():
    world = World()
    start(world, qualities=(3, 8, 5))
    step_until(world, lambda w: view(w).review_submitted)
    world.apply({"op": "corrupt", "party": "P1", "at": "now"})  # promoted, then never claims
    real = finish(world)
    assert real.outcomes == {0: (OPTIMAL_FORFEITED, "P1", "P1")}
    assert balance(world, "C") == COLLECTOR_FUNDS + DEPOSIT
    assert balance(world, "P1") == PROVIDER_FUNDS - DEPOSIT
    sample = set(view(world).samples[world.address["P1"]])
    assert real.collector_reads == {(0, "P1", i) for i in sample}


def test_reorg_dropping_claim_reward_is_healed_by_the_resend():
    world = World()
    start(world, qualities=(3, 8, 5))
    claims = lambda w: [t for t in w.chain.mempool if t.call.name == "claim_reward"]  # noqa: E731
    step_until(world, lambda w: bool(claims(w)))
    first = claims(world)[0]
    world.apply({"op": "mine", "gap": 1, "include": [first.tx_id]})
    assert world.chain.contract.sessions[0].st_trade == 3  # closed on the branch...
    world.apply({"op": "reorg", "depth": 1, "requeue": False})  # ...which is abandoned
    assert world.chain.contract.sessions[0].st_trade == 2
    real = finish(world)
    assert real.outcomes == {0: (DEAL_CLOSED, "P1", "P1")}
    assert balance(world, "P1") == PROVIDER_FUNDS + REWARD
    paid = [
        r.tx for b in world.chain.blocks for r in b.receipts if r.tx.call.name == "claim_reward"
    ]
    assert [tx.tx_id for tx in paid] != [first.tx_id] and paid[0].call == first.call


def test_corrupted_collector_reads_the_mempool_early_but_cannot_stop_the_payment():
    world = World()
    start(world, qualities=(3, 8, 5))
    step_until(world, lambda w: view(w).optimal is not None)
    world.apply({"op": "corrupt", "party": "C", "at": "now"})
    step_until(world, lambda w: any(t.call.name == "claim_reward" for t in w.chain.mempool))
    # Before ClaimReward is in any block, the mempool already hands over the master key
    assert world.readable({world.collector.review_secret(0)}) == all_shards(0, "P1")
    # ...to the collector alone: nobody else can open it
    assert world.readable(world.revealed_review_secrets()) == set()
    # The adversary stalls: it refunds, re-promotes, mines without the claim...
    for interface in ("claim_refund", "set_optimal", "set_candidate"):
        call(world, "C", interface, target=1)
    for _ in range(3):
        world.apply({"op": "mine", "gap": 1, "include": []})
    real = finish(world)
    # ...but liveness includes the claim: P1 is paid
    assert real.outcomes == {0: (DEAL_CLOSED, "P1", "P1")}
    assert balance(world, "P1") == PROVIDER_FUNDS + REWARD


def test_a_large_dataset_is_delivered_by_one_claim_of_32_bytes():
    world = World()
    shards = 3_000
    world.apply(
        {
            "op": "start_session",
            "reward": REWARD,
            "deposit": DEPOSIT,
            "pct_bps": 10,
            "shards": shards,
            "evaluation_s": 600,
            "threshold": 0,
        }
    )
    world.apply({"op": "advance", "seconds": 3})
    world.apply({"op": "join", "provider": 0, "sid": 0, "quality": 5})
    real = finish(world)
    assert real.outcomes == {0: (DEAL_CLOSED, "P0", "P0")}
    claims = [r for b in world.chain.blocks for r in b.receipts if r.tx.call.name == "claim_reward"]
    assert len(claims) == 1 and len(claims[0].tx.call.args[2]) == 32
    assert not claims[0].transfers  # paid after the complaint window, by claim_deposit
    assert len(world.collector.acquired[(0, world.address["P0"])].plaintexts) == shards


def test_a_provider_with_features_of_other_data_fails_review_and_is_compensated():
    """The residual of hyperx.spec.contract: features of better data than committed
    are found out by the review but not provable on chain."""
    world = World()
    start(world, qualities=(3, 5, 6))
    step_until(world, lambda w: w.address["P0"] in view(w).registered)
    world.apply({"op": "corrupt", "party": "P0", "at": "now"})
    step_until(world, lambda w: w.address["P0"] in view(w).samples)
    call(world, "P0", "submit_features", variant="other")
    step_until(world, lambda w: view(w).candidate is not None)
    assert view(world).candidate == world.address["P0"]
    call(world, "P0", "submit_review")
    real = finish(world)
    sent = [r.tx.call.name for b in world.chain.blocks for r in b.receipts]
    assert "set_optimal" not in sent and "dispute_review" not in sent  # the keys were good
    assert real.outcomes == {0: (ABORTED_AFTER_REVIEW, "P0", None)}
    # the sample it paid the compensation for, kept
    assert len(world.collector.acquired[(0, world.address["P0"])].plaintexts) == len(
        view(world).samples[world.address["P0"]]
    )
    assert balance(world, "C") == COLLECTOR_FUNDS - COMPENSATION


def test_a_junk_review_is_disputed_and_the_candidate_loses_its_deposit():
    """Issue 9, attack 1: sealed keys that are not the committed ones."""
    world = World()
    start(world, qualities=(3, 8, 5))
    world.apply({"op": "corrupt", "party": "P1", "at": "SetCandidate"})
    step_until(world, lambda w: view(w).candidate is not None)
    call(world, "P1", "submit_review", variant="wrong", target=0)
    real = finish(world)
    assert real.outcomes == {0: (REVIEW_REJECTED, "P1", None)}
    assert balance(world, "C") == COLLECTOR_FUNDS + DEPOSIT
    assert balance(world, "P1") == PROVIDER_FUNDS - DEPOSIT
    assert balance(world, "P0") == balance(world, "P2") == PROVIDER_FUNDS


def test_a_junk_master_key_is_disputed_and_the_reward_goes_back():
    world = World()
    start(world, qualities=(3, 8, 5))
    world.apply({"op": "corrupt", "party": "P1", "at": "SetOptimal"})
    step_until(world, lambda w: view(w).optimal is not None)
    call(world, "P1", "claim_reward", variant="wrong")
    real = finish(world)
    assert real.outcomes == {0: (CLAIM_REJECTED, "P1", "P1")}
    assert balance(world, "C") == COLLECTOR_FUNDS + DEPOSIT
    assert balance(world, "P1") == PROVIDER_FUNDS - DEPOSIT


def test_a_copier_of_features_is_never_ranked_and_the_victim_closes_the_deal():
    """Issue 9, attack 4: features copied from the best provider do not open under
    the copier's name; the session closes with the honest provider."""
    world = World()
    start(world, qualities=(3, 8, 5))
    world.apply({"op": "corrupt", "party": "P0", "at": "now"})
    step_until(world, lambda w: w.address["P1"] in view(w).features)
    victim = next(
        tx
        for tx in world.seen.values()
        if tx.call.name == "submit_features" and tx.sender == world.address["P1"]
    )
    call(world, "P0", "registration")
    step_until(world, lambda w: w.address["P0"] in view(w).samples)
    world.apply({"op": "copy", "tx": victim.tx_id, "as": "P0"})
    step_until(world, lambda w: w.address["P0"] in view(w).features)
    assert world.address["P0"] not in world.collector.scores[0]
    real = finish(world)
    assert real.outcomes == {0: (DEAL_CLOSED, "P1", "P1")}
    assert balance(world, "P1") == PROVIDER_FUNDS + REWARD


def test_a_provider_that_withholds_its_shards_is_never_a_candidate():
    """Issue 9, attack 3: shards committed but not stored (only the sample put up
    later) make a provider ineligible however good its features."""
    world = World()
    world.apply({"op": "corrupt", "party": "P0", "at": "now"})
    start(world, qualities=(3, 5, 2))  # P0, corrupted, does not join by itself
    call(world, "P0", "registration", variant="withhold")
    step_until(world, lambda w: w.address["P0"] in view(w).samples)
    world.apply({"op": "store", "party": "P0", "sid": 0, "which": "sample"})
    call(world, "P0", "submit_features", variant="other")
    real = finish(world)
    assert (
        world.collector.scores[0][world.address["P0"]]
        > world.collector.scores[0][world.address["P1"]]
    )
    assert real.outcomes == {0: (DEAL_CLOSED, "P1", "P1")}


def test_rejects_a_reorg_that_would_drop_a_final_block():
    chain = Blockchain(finality_depth=2)
    for _ in range(4):
        chain.mine()
    chain.reorg(1)
    with pytest.raises(AssertionError, match="cannot drop final blocks"):
        chain.reorg(2)


def test_ranking_breaks_ties_by_address_and_respects_the_threshold():
    assert compute_ranking({"0xb": 50, "0xa": 50, "0xc": 40}, 0) == ["0xa", "0xb", "0xc"]
    assert compute_ranking({"0xb": 50, "0xc": 40}, 45) == ["0xb"]
    assert compute_ranking({}, 0) == []


def test_invariants_hold_at_every_step_of_an_adversarial_schedule():
    world = World()
    start(world)
    steps = [
        {"op": "corrupt", "party": "P2", "at": "now"},
        {
            "op": "call",
            "party": "P2",
            "interface": "set_candidate",
            "sid": 0,
            "variant": "honest",
            "target": 2,
        },
        {
            "op": "call",
            "party": "P2",
            "interface": "sample_data",
            "sid": 0,
            "variant": "wrong",
            "target": 0,
        },
        {"op": "mine", "gap": 3, "include": []},
        {"op": "advance", "seconds": 300},
        {
            "op": "call",
            "party": "P2",
            "interface": "claim_deposit",
            "sid": 0,
            "variant": "honest",
            "target": 0,
        },
        {"op": "advance", "seconds": 600},
    ]
    for instruction in steps:
        world.apply(instruction)
        check_chain(world)
    world.finish()
    compare_worlds(world)


def test_find_wrong_shard_key_names_the_first_shard_a_master_key_does_not_give():
    master = bytes(range(32))
    hashes = [compute_key_hash(compute_shard_key(master, i)) for i in range(5)]
    assert find_wrong_shard_key(master, hashes) is None
    assert find_wrong_shard_key(bytes(32), hashes) == 0  # another master key
    assert find_wrong_shard_key(None, hashes) == 0  # a seal that did not open
    lying = hashes[:3] + [compute_key_hash(bytes(32))] + hashes[4:]
    assert find_wrong_shard_key(master, lying) == 3
