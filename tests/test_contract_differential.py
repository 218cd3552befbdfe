"""Differential test: random schedules driven into the spec's Prot_SC and into the
Vyper market on the EVM at once (`contract_twin.Twin`); after every call both must
agree on success or revert reason, return value, events and value movements, and
every getter must show the spec's state. Schedules mix honest protocol moves with
wrong senders, wrong values, stale or corrupted data and time jumps across deadlines.
"""

import os

from contract_twin import Twin, run_honest_session, shard_keys
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from hyperx.impl.chain.market import iter_reward_chunks
from hyperx.spec.config import BPS
from hyperx.spec.contract import get_sample_bound
from hyperx.spec.merkle import compute_merkle_proof, compute_merkle_root

THOROUGH = os.environ.get("HYPERX_PROFILE") == "thorough"
STEPS = 60
EXAMPLES = 300 if THOROUGH else 30


class MarketDifferential(RuleBasedStateMachine):
    @initialize()
    def deploy(self):
        self.twin = Twin()
        self.collector = self.twin.parties[0]
        self.samples = {}  # (sid, pid) -> the indices sample_data set

    def _sid(self, data):
        """Mostly the newest session, sometimes an older one or one that does not exist."""
        n = len(self.twin.state.sessions)
        return data.draw(st.sampled_from([max(n - 1, 0)] * 4 + list(range(n + 1))))

    def _party(self, data):
        return data.draw(st.sampled_from(self.twin.parties))

    def _pick(self, data, preferred: list[str]) -> str:
        """One of `preferred` three times in four (if any), else any party."""
        if preferred and data.draw(st.integers(0, 3)):
            return data.draw(st.sampled_from(preferred))
        return self._party(data)

    def _session(self, sid):
        sessions = self.twin.state.sessions
        return sessions[sid] if sid < len(sessions) else None

    # One invalid value per field, to break one field of an otherwise valid call.
    INVALID = {
        "reward": 0,
        "value": -1,
        "pct": (0, BPS + 1),
        "shards": (0, 70_000, 1),
        "eval_in": (-1, 0, 365 * 24 * 3600 + 1),
        "review": (0, 365 * 24 * 3600 + 1),
        "claim": (0, 365 * 24 * 3600 + 1),
        "theta": b"\x00" * 32,
    }

    @rule(
        data=st.data(),
        reward=st.sampled_from([1, 10**18, 7 * 10**15]),
        deposit=st.sampled_from([0, 1, 10**17]),
        pct=st.sampled_from([1_000, 5_000, BPS]),
        shards=st.sampled_from([1, 2, 3, 10, 33]),
        eval_in=st.sampled_from([1, 600, 3_600]),
        review=st.sampled_from([300, 900]),
        claim=st.sampled_from([300, 900]),
        broken=st.sampled_from([None] * 8 + sorted(INVALID)),
    )
    def create_session(self, data, reward, deposit, pct, shards, eval_in, review, claim, broken):
        config = dict(
            reward=reward,
            value=0,
            pct=pct,
            shards=shards,
            eval_in=eval_in,
            review=review,
            claim=claim,
            theta=b"\x11" * 32,
        )
        if broken:
            bad = self.INVALID[broken]
            config[broken] = data.draw(st.sampled_from(bad)) if isinstance(bad, tuple) else bad
        sender = self._pick(data, [self.collector])
        self.twin.call(
            "create_session",
            sender,
            config["reward"] + config["value"] if config["reward"] else 0,
            config["reward"],
            deposit,
            config["pct"],
            config["shards"],
            self.twin.now() + config["eval_in"],
            config["review"],
            config["claim"],
            config["theta"],
        )

    @rule(data=st.data(), honest=st.sampled_from([True, True, True, False]))
    def registration(self, data, honest):
        sid = self._sid(data)
        session = self._session(sid)
        sender = self._pick(
            data, [p for p in self.twin.parties[1:] if not session or p not in session.profiles]
        )
        n = session.config.cf_shards if session else 4
        deposit = session.config.cf_deposit if session else 0
        root = compute_merkle_root(shard_keys(sender, sid, n))
        if not honest:
            n = data.draw(st.sampled_from([n, n + 1, max(n - 1, 0)]))
            deposit = data.draw(st.sampled_from([deposit, deposit + 1]))
            root = data.draw(st.sampled_from([root, b"\x00" * 32]))
        self.twin.call("registration", sender, deposit, sid, root, n)

    @rule(data=st.data(), honest=st.sampled_from([True, True, True, False]))
    def sample_data(self, data, honest):
        sid = self._sid(data)
        session = self._session(sid)
        pid = self._pick(
            data, [p for p, f in session.profiles.items() if not f.sample_count] if session else []
        )
        sender = session.collector if session and honest else self._party(data)
        n = session.config.cf_shards if session else 4
        bound = get_sample_bound(session.config) if session else 1
        size = data.draw(st.integers(1, max(bound, 1)))
        size = min(size, n)
        indices = sorted(data.draw(st.sets(st.integers(0, n - 1), min_size=size, max_size=size)))
        if not honest:
            indices = data.draw(
                st.sampled_from([indices, [], indices[::-1], indices + [n], list(range(bound + 1))])
            )
        ok, _ = self.twin.call("sample_data", sender, 0, sid, pid, indices)
        if ok:
            self.samples[(sid, pid)] = indices

    @rule(data=st.data(), empty=st.sampled_from([False, False, False, True]))
    def submit_features(self, data, empty):
        feature = b"\x00" * 32 if empty else data.draw(st.binary(min_size=32, max_size=32))
        sid = self._sid(data)
        session = self._session(sid)
        sender = self._pick(
            data, [p for p, f in session.profiles.items() if f.sample_count] if session else []
        )
        self.twin.call("submit_features", sender, 0, sid, feature)

    @rule(data=st.data())
    def set_candidate(self, data):
        sid = self._sid(data)
        session = self._session(sid)
        sender = self._pick(data, [session.collector] if session else [])
        featured = [p for p, f in session.profiles.items() if any(f.adr_feature)] if session else []
        self.twin.call("set_candidate", sender, 0, sid, self._pick(data, featured))

    @rule(
        data=st.data(),
        corruption=st.sampled_from(["none", "none", "key", "proof", "indices", "count", "sealed"]),
    )
    def submit_review(self, data, corruption):
        sid = self._sid(data)
        session = self._session(sid)
        sender = self._pick(data, [session.candidate] if session else [])
        n = session.config.cf_shards if session else 4
        profile = session.profiles.get(sender) if session else None
        keys = shard_keys(sender, sid, n)
        indices = data.draw(st.sampled_from([[0], list(range(min(n, 3)))])) if n else []
        if profile is not None and profile.sample_count:
            indices = self.samples[(sid, sender)]
        shown = [keys[i] if i < n else b"\x01" * 32 for i in indices]
        proofs = [compute_merkle_proof(keys, i) if i < n else [] for i in indices]
        sealed = b"\x05" * 129
        if corruption == "key" and shown:
            shown[0] = b"\x02" * 32
        elif corruption == "proof" and proofs and proofs[0]:
            proofs[0] = proofs[0][:-1]
        elif corruption == "indices":
            indices = indices[:-1]
        elif corruption == "count":
            shown = shown[:-1]
        elif corruption == "sealed":
            sealed = b""
        self.twin.call("submit_review", sender, 0, sid, indices, shown, proofs, sealed)

    @rule(data=st.data())
    def set_optimal(self, data):
        sid = self._sid(data)
        session = self._session(sid)
        sender = self._pick(data, [session.collector] if session else [])
        pid = self._pick(data, [session.candidate] if session else [])
        self.twin.call("set_optimal", sender, 0, sid, pid)

    @rule(data=st.data(), corruption=st.sampled_from(["none", "none", "key", "order"]))
    def claim_reward(self, data, corruption):
        sid = self._sid(data)
        session = self._session(sid)
        sender = self._pick(data, [session.optimal] if session else [])
        n = session.config.cf_shards if session else 1
        chunks = list(iter_reward_chunks(shard_keys(sender, sid, n)))
        done = session.chunks_revealed if session else 0
        index, keys, proof = chunks[min(done, len(chunks) - 1)]
        if corruption == "key":
            keys = [b"\x03" * 32] + keys[1:]
        elif corruption == "order":
            index += 1
        self.twin.call("claim_reward", sender, 0, sid, index, keys, proof)

    @rule(data=st.data())
    def claim_deposit(self, data):
        sid = self._sid(data)
        session = self._session(sid)
        sender = self._pick(data, list(session.profiles) if session else [])
        self.twin.call("claim_deposit", sender, 0, sid)

    @rule(data=st.data())
    def claim_refund(self, data):
        sid = self._sid(data)
        session = self._session(sid)
        self.twin.call(
            "claim_refund", self._pick(data, [session.collector] if session else []), 0, sid
        )

    @rule(
        shards=st.sampled_from([1, 2, 5, 16, 33]),
        stage=st.integers(1, 7),
        late=st.sampled_from([0, 0, 1_000, 5_000]),
    )
    def honest_session(self, shards, stage, late):
        run_honest_session(self.twin, self.samples, shards, stage, late)

    @rule(data=st.data(), value=st.sampled_from([1, 10**17]))
    def value_to_a_nonpayable_interface(self, data, value):
        self.twin.call("claim_deposit", self._party(data), value, self._sid(data))

    @rule(seconds=st.sampled_from([1, 299, 300, 600, 900, 3_600]))
    def advance_time(self, seconds):
        self.twin.advance(seconds)

    @invariant()
    def agrees_with_the_spec(self):
        self.twin.check_state()

    def teardown(self):
        if hasattr(self, "twin"):
            self.twin.check_state(everything=True)


MarketDifferential.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    derandomize=not THOROUGH,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
test_contract_agrees_with_spec = MarketDifferential.TestCase
