"""Differential test: random schedules driven into the spec's Prot_SC and into the
Vyper market on the EVM at once (`contract_twin.Twin`); after every call both must
agree on success or revert reason, return value, events and value movements, and
every getter must show the spec's state. Schedules mix honest protocol moves with
wrong senders, wrong values, stale or corrupted data, junk deliveries, disputes
(valid and refused) and time jumps across deadlines.
"""

import os

from contract_twin import (
    CALLS_CHECKED,
    JUNK,
    Twin,
    dataset,
    dispute_claim_args,
    dispute_review_args,
    not_a_point,
    review_key,
    review_secret,
    run_session,
)
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from hyperx.spec import secp256k1
from hyperx.spec.config import BPS, MASTER_KEY_SLOT, MAX_PERIOD_S, MIN_PERIOD_S, ZERO_HASH
from hyperx.spec.contract import INTERFACES, TradeState, get_sample_bound
from hyperx.spec.sealing import compute_key_hash, compute_shard_key, open_sealed_key

THOROUGH = os.environ.get("HYPERX_PROFILE") == "thorough"
STEPS = 60
EXAMPLES = 300 if THOROUGH else 40
WRONG_SECRET = secp256k1.derive_secret(b"not a review key")
NO_REVIEW = {"ephemeral": bytes(64), "sealed_keys": [], "key_hashes": []}
NO_CLAIM = {"ephemeral": bytes(64), "sealed_master": bytes(32)}
DISPUTE_FAULTS = ("good delivery", "wrong secret", "zero secret", "position", "delivery")


def _junk_positions(sid: int, review: dict) -> list[int]:
    """The positions of a review whose sealed key the review key does not open to
    its committed hash (what the collector finds off chain)."""
    return [
        position
        for position, (sealed, key_hash) in enumerate(
            zip(review["sealed_keys"], review["key_hashes"], strict=True)
        )
        if (key := open_sealed_key(review_secret(sid), review["ephemeral"], sealed, sid, position))
        is None
        or compute_key_hash(key) != key_hash
    ]


def _junk_shards(sid: int, claim: dict, commitment) -> list[int]:
    """The shards whose committed key hash the delivered master key does not give."""
    master = open_sealed_key(
        review_secret(sid), claim["ephemeral"], claim["sealed_master"], sid, MASTER_KEY_SLOT
    )
    return [
        index
        for index, key_hash in enumerate(commitment.key_hashes)
        if master is None or compute_key_hash(compute_shard_key(master, index)) != key_hash
    ]


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

    def _shards(self, session) -> int:
        return session.config.cf_shards if session else 4

    def _named_review_key(self, sid: int) -> bytes:
        """The review key SetCandidate named, when it is a point a seal can use."""
        event = self.twin.last_events.get((sid, "SetCandidate"))
        if event and secp256k1.decode_point(event["review_key"]) is not None:
            return event["review_key"]
        return review_key(sid)

    # Invalid values per field, to break one field of an otherwise valid call; each
    # (field, value) pair is drawn as often as the others.
    INVALID = {
        "reward": (0,),
        "value": (-1,),
        "pct": (0, BPS + 1),
        "shards": (0, 70_000, 1),
        "eval_in": (-1, 0, MIN_PERIOD_S - 1, MAX_PERIOD_S + 1),
        "review": (0, MIN_PERIOD_S - 1, MAX_PERIOD_S + 1),
        "claim": (0, MIN_PERIOD_S - 1, MAX_PERIOD_S + 1),
        "theta": (b"\x00" * 32,),
    }
    BROKEN = [(field, value) for field, values in INVALID.items() for value in values]

    @rule(
        data=st.data(),
        reward=st.sampled_from([1, 10**18, 7 * 10**15]),
        deposit=st.sampled_from([0, 1, 10**17]),
        pct=st.sampled_from([1_000, 5_000, BPS]),
        shards=st.sampled_from([1, 2, 3, 10, 33]),
        eval_in=st.sampled_from([MIN_PERIOD_S, 600, 3_600]),
        review=st.sampled_from([MIN_PERIOD_S, 900]),
        claim=st.sampled_from([MIN_PERIOD_S, 900]),
        broken=st.sampled_from([None] * len(BROKEN) + BROKEN),
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
            field, value = broken
            config[field] = value
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
        session = self.twin.session(sid)
        sender = self._pick(
            data, [p for p in self.twin.parties[1:] if not session or p not in session.profiles]
        )
        n = self._shards(session)
        deposit = session.config.cf_deposit if session else 0
        commitment = dataset(sender, sid, n)
        root, manifest = commitment.root, commitment.manifest
        if not honest:
            n = data.draw(st.sampled_from([n, n + 1, max(n - 1, 0)]))
            deposit = data.draw(st.sampled_from([deposit, deposit + 1]))
            root = data.draw(st.sampled_from([root, b"\x00" * 32]))
            manifest = data.draw(st.sampled_from([manifest, b"\x00" * 32]))
        self.twin.call("registration", sender, deposit, sid, root, n, manifest)

    @rule(data=st.data(), honest=st.sampled_from([True, True, True, False]))
    def sample_data(self, data, honest):
        sid = self._sid(data)
        session = self.twin.session(sid)
        pid = self._pick(
            data, [p for p, f in session.profiles.items() if not f.sample_count] if session else []
        )
        sender = session.collector if session and honest else self._party(data)
        n = self._shards(session)
        bound = get_sample_bound(session.config) if session else 1
        size = min(data.draw(st.integers(1, max(bound, 1))), n)
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
        session = self.twin.session(sid)
        sender = self._pick(
            data, [p for p, f in session.profiles.items() if f.sample_count] if session else []
        )
        self.twin.call("submit_features", sender, 0, sid, feature)

    @rule(data=st.data(), key=st.sampled_from(["named", "named", "named", "63", "65", "junk"]))
    def set_candidate(self, data, key):
        sid = self._sid(data)
        session = self.twin.session(sid)
        sender = self._pick(data, [session.collector] if session else [])
        featured = [p for p, f in session.profiles.items() if any(f.adr_feature)] if session else []
        named = {
            "named": review_key(sid),
            "63": review_key(sid)[:63],
            "65": review_key(sid) + b"\x00",  # longer than Bytes[64]: the ABI refuses it
            "junk": b"\x09" * 64,  # 64 bytes are all set_candidate checks
        }[key]
        self.twin.call("set_candidate", sender, 0, sid, self._pick(data, featured), named)

    @rule(
        data=st.data(),
        corruption=st.sampled_from(
            ["none"] * 4
            + ["junk key", "off curve", "cid", "proof", "indices", "count", "ephemeral"]
        ),
    )
    def submit_review(self, data, corruption):
        sid = self._sid(data)
        session = self.twin.session(sid)
        sender = self._pick(data, [session.candidate] if session else [])
        n = self._shards(session)
        profile = session.profiles.get(sender) if session else None
        if profile is not None and profile.sample_count:
            indices = self.samples[(sid, sender)]
        else:
            indices = data.draw(st.sampled_from([[0], list(range(min(n, 3)))]))
        args = list(dataset(sender, sid, n).review_args(sid, indices, self._named_review_key(sid)))
        if corruption == "junk key":
            position = data.draw(st.integers(0, len(indices) - 1))
            args[6] = [bytes(32) if i == position else k for i, k in enumerate(args[6])]
        elif corruption == "off curve":
            args[5] = not_a_point()
        elif corruption == "cid":
            args[2] = [b"\x01" * 32] + args[2][1:]
        elif corruption == "proof" and args[4][0]:
            args[4] = [args[4][0][:-1]] + args[4][1:]
        elif corruption == "indices":
            args[1] = args[1][:-1]
        elif corruption == "count":
            args[6] = args[6][:-1]
        elif corruption == "ephemeral":
            args[5] = args[5][:63]
        self.twin.call("submit_review", sender, 0, *args)

    @rule(
        data=st.data(),
        secret=st.sampled_from(["review"] * 4 + ["wrong", "zero"]),
        corruption=st.sampled_from(["none"] * 4 + ["delivery"]),
    )
    def dispute_review(self, data, secret, corruption):
        sid = self._sid(data)
        session = self.twin.session(sid)
        sender = self._pick(data, [session.collector] if session else [])
        review = dict(self.twin.last_events.get((sid, "SubmitReview"), NO_REVIEW))
        if corruption == "delivery":
            review["sealed_keys"] = list(review["sealed_keys"])[::-1] + [bytes(32)]
        position = data.draw(st.integers(0, len(review["sealed_keys"])))
        args = list(dispute_review_args(sid, review, position))
        args[1] = {"review": review_secret(sid), "wrong": WRONG_SECRET, "zero": 0}[secret]
        self.twin.call("dispute_review", sender, 0, *args)

    @rule(data=st.data())
    def set_optimal(self, data):
        sid = self._sid(data)
        session = self.twin.session(sid)
        sender = self._pick(data, [session.collector] if session else [])
        pid = self._pick(data, [session.candidate] if session else [])
        self.twin.call("set_optimal", sender, 0, sid, pid)

    @rule(
        data=st.data(),
        corruption=st.sampled_from(["none"] * 3 + ["junk master", "off curve", "ephemeral"]),
    )
    def claim_reward(self, data, corruption):
        sid = self._sid(data)
        session = self.twin.session(sid)
        sender = self._pick(data, [session.optimal] if session else [])
        commitment = dataset(sender, sid, self._shards(session))
        master = bytes(32) if corruption == "junk master" else None
        args = list(commitment.claim_args(sid, self._named_review_key(sid), master))
        if corruption == "off curve":
            args[1] = not_a_point()
        elif corruption == "ephemeral":
            args[1] = args[1][:63]
        self.twin.call("claim_reward", sender, 0, *args)

    @rule(
        data=st.data(),
        secret=st.sampled_from(["review"] * 4 + ["wrong", "zero"]),
        corruption=st.sampled_from(["none"] * 4 + ["delivery", "leaf"]),
    )
    def dispute_claim(self, data, secret, corruption):
        sid = self._sid(data)
        session = self.twin.session(sid)
        sender = self._pick(data, [session.collector] if session else [])
        n = self._shards(session)
        optimal = session.optimal if session and session.optimal != "0x" + "00" * 20 else None
        commitment = dataset(optimal or self._party(data), sid, n)
        claim = dict(self.twin.last_events.get((sid, "ClaimReward"), NO_CLAIM))
        if corruption == "delivery":
            claim["sealed_master"] = claim["sealed_master"][::-1]
        args = list(dispute_claim_args(sid, claim, commitment, data.draw(st.integers(0, n - 1))))
        args[1] = {"review": review_secret(sid), "wrong": WRONG_SECRET, "zero": 0}[secret]
        if corruption == "leaf":
            args[6] = b"\x07" * 32
        self.twin.call("dispute_claim", sender, 0, *args)

    @rule(data=st.data())
    def claim_deposit(self, data):
        sid = self._sid(data)
        session = self.twin.session(sid)
        sender = self._pick(data, list(session.profiles) if session else [])
        self.twin.call("claim_deposit", sender, 0, sid)

    @rule(data=st.data())
    def claim_refund(self, data):
        sid = self._sid(data)
        session = self.twin.session(sid)
        self.twin.call(
            "claim_refund", self._pick(data, [session.collector] if session else []), 0, sid
        )

    @rule(
        data=st.data(),
        moves=st.sampled_from([1, 4, 12, 12]),
        junk=st.sampled_from([None, None, "key", "off curve"]),
        fault=st.sampled_from([None] * len(DISPUTE_FAULTS) + list(DISPUTE_FAULTS)),
    )
    def next_moves(self, data, moves, junk, fault):
        """Up to `moves` next protocol moves of the newest session, each by the party
        whose turn it is, its deliveries honest or junk (a wrong key, or an ephemeral
        key off the curve): walks sessions of every drawn configuration deep, where
        the random rules rarely get. The collector answers as the spec's honest one
        does (it opens the seals, disputes a junk key and promotes a good review),
        or with one `fault`: it disputes a good delivery, or disputes with a wrong
        secret, position, leaf or delivery."""
        for _ in range(moves):
            if not self._next_move(data, junk, fault):
                return

    def _next_move(self, data, junk, fault) -> bool:
        """Make the newest session's next move; did it succeed?"""
        twin, sid = self.twin, len(self.twin.state.sessions) - 1
        session = twin.session(sid)
        if session is None:
            return False
        n, profiles, collector = session.config.cf_shards, session.profiles, session.collector
        if session.st_trade == TradeState.PENDING:
            unregistered = [p for p in twin.parties[1:] if p not in profiles]
            unsampled = [p for p, f in profiles.items() if not f.sample_count]
            featureless = [
                p for p, f in profiles.items() if f.sample_count and f.adr_feature == ZERO_HASH
            ]
            featured = [p for p, f in profiles.items() if f.adr_feature != ZERO_HASH]
            if unsampled:
                bound = get_sample_bound(session.config)
                indices = sorted(
                    data.draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=bound))
                )
                ok = twin.call("sample_data", collector, 0, sid, unsampled[0], indices)[0]
                if ok:
                    self.samples[(sid, unsampled[0])] = indices
                return ok
            if featureless:
                return twin.call("submit_features", featureless[0], 0, sid, b"\x44" * 32)[0]
            if featured and (not unregistered or data.draw(st.booleans())):
                pid = data.draw(st.sampled_from(featured))
                return twin.call("set_candidate", collector, 0, sid, pid, review_key(sid))[0]
            if not unregistered:
                return False
            commitment = dataset(unregistered[0], sid, n)
            args = (sid, commitment.root, n, commitment.manifest)
            return twin.call("registration", unregistered[0], session.config.cf_deposit, *args)[0]
        candidate = session.candidate
        if session.st_trade == TradeState.REVIEWING and not session.review_submitted:
            indices = self.samples[(sid, candidate)]
            args = list(dataset(candidate, sid, n).review_args(sid, indices, review_key(sid)))
            if junk == "key":
                position = data.draw(st.integers(0, len(indices) - 1))
                args[6] = [bytes(32) if i == position else k for i, k in enumerate(args[6])]
            elif junk == "off curve":
                args[5] = not_a_point()
            return twin.call("submit_review", candidate, 0, *args)[0]
        if session.st_trade == TradeState.REVIEWING:
            review = twin.last_events[(sid, "SubmitReview")]
            bad = _junk_positions(sid, review)
            if not bad and fault is None:
                return twin.call("set_optimal", collector, 0, sid, candidate)[0]
            positions = bad or list(range(len(review["sealed_keys"])))
            args = list(dispute_review_args(sid, review, data.draw(st.sampled_from(positions))))
            if fault in ("wrong secret", "zero secret"):
                args[1] = WRONG_SECRET if fault == "wrong secret" else 0
            elif fault == "position":
                args[5] = len(review["sealed_keys"])
            elif fault == "delivery":
                args[3] = args[3][::-1] + [bytes(32)]
            return twin.call("dispute_review", collector, 0, *args)[0]
        if session.st_trade == TradeState.REVIEWED:
            master = bytes(32) if junk == "key" else None
            args = list(dataset(candidate, sid, n).claim_args(sid, review_key(sid), master))
            if junk == "off curve":
                args[1] = not_a_point()
            return twin.call("claim_reward", candidate, 0, *args)[0]
        if not session.claim_rejected:
            claim = twin.last_events[(sid, "ClaimReward")]
            commitment = dataset(candidate, sid, n)
            bad = _junk_shards(sid, claim, commitment)
            if not bad and fault is None:
                return False  # a good master key: the collector lets the window pass
            index = data.draw(st.sampled_from(bad or list(range(n))))
            args = list(dispute_claim_args(sid, claim, commitment, index))
            if fault in ("wrong secret", "zero secret"):
                args[1] = WRONG_SECRET if fault == "wrong secret" else 0
            elif fault == "position":  # a leaf that is not committed
                args[6] = bytes(32)
            elif fault == "delivery":
                args[3] = args[3][::-1]
            return twin.call("dispute_claim", collector, 0, *args)[0]
        return False

    @rule(
        shards=st.sampled_from([1, 2, 5, 16, 33]),
        stage=st.sampled_from([1, 2, 3, 4, 4, 5, 6, 6]),  # the deliveries twice as often
        late=st.sampled_from([0, 0, 600, 1_000, 5_000]),
        junk=st.sampled_from([None, *JUNK]),
        review_s=st.sampled_from([MIN_PERIOD_S, 900]),
        claim_s=st.sampled_from([MIN_PERIOD_S, 900]),
    )
    def whole_session(self, shards, stage, late, junk, review_s, claim_s):
        run_session(
            self.twin,
            shards,
            stage,
            late,
            junk=junk if stage in (4, 6) else None,
            review_s=review_s,
            claim_s=claim_s,
            samples=self.samples,
        )

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


SETTINGS = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    derandomize=not THOROUGH,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def test_contract_agrees_with_spec():
    before = CALLS_CHECKED.copy()
    run_state_machine_as_test(MarketDifferential, settings=SETTINGS)
    checked = CALLS_CHECKED - before
    print(f"differential calls checked: {sum(checked.values())}")
    for (name, ok), count in sorted(checked.items()):
        print(f"  {name:16} {'ok' if ok else 'reverted':8} {count}")
    # Every interface both succeeded and was refused at least once.
    assert all(checked[(name, ok)] for name in INTERFACES for ok in (True, False))
