"""Adversarial fuzz: arbitrary senders, values and arguments against every interface,
interleaved with whole sessions (some with a junk delivery, disputed) and time jumps.
Every call must agree with the spec (`Twin.call`), and after every call the market
must be solvent: its balance equals the escrow the spec accounts for (reward +
deposits - paid, `get_escrow`), which with the agreed value movements is money
conservation. At least 2,000 calls in the default run, 10,000+ with
HYPERX_PROFILE=thorough."""

import os

from contract_twin import CALLS_CHECKED, JUNK, Twin, run_session
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from hyperx.spec.config import MAX_PERIOD_S
from hyperx.spec.contract import INTERFACES, get_escrow

THOROUGH = os.environ.get("HYPERX_PROFILE") == "thorough"
# Derandomized by default, so that the default run checks the same 2,500 calls.
EXAMPLES, STEPS = (60, 110) if THOROUGH else (12, 110)
EXAMPLES = int(os.environ.get("HYPERX_FUZZ_EXAMPLES", EXAMPLES))

words = st.binary(min_size=32, max_size=32) | st.just(b"\x00" * 32)
small_ints = st.integers(0, 40) | st.integers(0, 2**256 - 1)
values = st.sampled_from([0, 0, 0, 1, 10**17, 10**18]) | st.integers(0, 10**19)
# 64 bytes is a point's size; shorter ones are refused by the guards, longer by the ABI
points = st.binary(min_size=64, max_size=64) | st.binary(max_size=66)


class AdversarialMarket(RuleBasedStateMachine):
    @initialize()
    def deploy(self):
        self.twin = Twin(n_parties=5)

    def _sid(self, data):
        return data.draw(st.integers(0, len(self.twin.state.sessions) + 1))

    def _sender(self, data):
        return data.draw(st.sampled_from(self.twin.parties))

    def _value(self, data, name):
        """Mostly what the call needs, sometimes anything."""
        if name in ("create_session", "registration") and data.draw(st.booleans()):
            return None
        return data.draw(values) if data.draw(st.integers(0, 4)) == 0 else 0

    @rule(
        data=st.data(),
        name=st.sampled_from(list(INTERFACES)),
    )
    def arbitrary_call(self, data, name):
        twin = self.twin
        sid = self._sid(data)
        session = twin.state.sessions[sid] if sid < len(twin.state.sessions) else None
        party = st.sampled_from(twin.parties)
        if name == "create_session":
            reward = data.draw(st.sampled_from([0, 1, 10**18]) | st.integers(0, 10**19))
            args = (
                reward,
                data.draw(st.sampled_from([0, 10**17]) | small_ints),
                data.draw(st.integers(0, 10_001) | st.sampled_from([1_000, 10_000])),
                data.draw(st.integers(0, 70_000) | st.integers(1, 40)),
                twin.now() + data.draw(st.integers(-5, MAX_PERIOD_S + 5) | st.integers(-5, 2_000)),
                data.draw(st.integers(0, MAX_PERIOD_S + 1) | st.integers(250, 1_000)),
                data.draw(st.integers(0, MAX_PERIOD_S + 1) | st.integers(250, 1_000)),
                data.draw(words),
            )
            default_value = reward
        elif name == "registration":
            args = (sid, data.draw(words), data.draw(small_ints), data.draw(words))
            default_value = session.config.cf_deposit if session else 0
        elif name == "sample_data":
            indices = data.draw(st.lists(st.integers(0, 50), max_size=12))
            if data.draw(st.booleans()):
                indices = sorted(set(indices))
            args = (sid, data.draw(party), indices)
        elif name == "submit_features":
            args = (sid, data.draw(words))
        elif name == "set_candidate":
            args = (sid, data.draw(party), data.draw(points))
        elif name == "set_optimal":
            args = (sid, data.draw(party))
        elif name == "submit_review":
            n = data.draw(st.integers(0, 6))
            args = (
                sid,
                data.draw(st.lists(st.integers(0, 50), min_size=n, max_size=n)),
                data.draw(st.lists(words, min_size=n, max_size=n + 1)),
                data.draw(st.lists(words, min_size=n, max_size=n)),
                data.draw(
                    st.lists(st.lists(words, max_size=17), min_size=max(n - 1, 0), max_size=n)
                ),
                data.draw(points),
                data.draw(st.lists(words, min_size=n, max_size=n + 1)),
            )
        elif name == "dispute_review":
            args = (
                sid,
                data.draw(small_ints),
                data.draw(points),
                data.draw(st.lists(words, max_size=6)),
                data.draw(st.lists(words, max_size=6)),
                data.draw(small_ints),
            )
        elif name == "claim_reward":
            args = (sid, data.draw(points), data.draw(words))
        elif name == "dispute_claim":
            args = (
                sid,
                data.draw(small_ints),
                data.draw(points),
                data.draw(words),
                data.draw(small_ints),
                data.draw(words),
                data.draw(words),
                data.draw(st.lists(words, max_size=17)),
            )
        else:
            args = (sid,)
        value = self._value(data, name)
        if value is None:
            value = default_value
        twin.call(name, self._sender(data), value, *args)

    @rule(
        shards=st.sampled_from([2, 3, 8]),
        stage=st.integers(1, 6),
        late=st.sampled_from([0, 1_000, 5_000]),
        junk=st.sampled_from([None, *JUNK]),
    )
    def whole_session(self, shards, stage, late, junk):
        junk = junk if stage in (4, 6) else None
        run_session(self.twin, shards, stage, late, junk=junk, check=False)

    @rule(seconds=st.sampled_from([1, 60, 600, 900, 2_000]))
    def advance_time(self, seconds):
        self.twin.advance(seconds)

    @invariant()
    def solvent(self):
        twin = self.twin
        escrow = sum(get_escrow(session) for session in twin.state.sessions)
        assert twin.balance(twin.contract.address) == escrow


SETTINGS = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    derandomize=not THOROUGH,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def test_adversarial_calls_agree_and_stay_solvent():
    before = sum(CALLS_CHECKED.values())
    run_state_machine_as_test(AdversarialMarket, settings=SETTINGS)
    checked = sum(CALLS_CHECKED.values()) - before
    print(f"adversarial calls checked: {checked}")
    assert checked >= (10_000 if THOROUGH else 2_000)
