"""The spec's Prot_SC and the Vyper market on titanoboa's EVM, stepped together.

`Twin.call` sends one interface call to both and asserts that they agree: the same
success or revert reason, the same return value, the same events, the same value
movements; `Twin.check_state` compares everything the getters show. Shared by the
differential, adversarial and reject tests.
"""

from collections import Counter, defaultdict
from dataclasses import asdict
from functools import cache

import boa
from eth_abi import decode

from hyperx.impl.chain.compile import SETTINGS, read_source
from hyperx.impl.chain.market import iter_reward_chunks
from hyperx.spec.config import (
    BPS,
    CHUNK_SIZE,
    MAX_MERKLE_DEPTH,
    MAX_SAMPLE,
    MAX_SEALED_KEY_BYTES,
)
from hyperx.spec.contract import (
    INTERFACES,
    PAYABLE,
    MarketState,
    Msg,
    get_escrow,
    get_sample_bound,
)
from hyperx.spec.merkle import compute_merkle_proof, compute_merkle_root, keccak256

ERROR_SELECTOR = bytes.fromhex("08c379a0")
# Calls checked in this process, per (interface, succeeded); the tests report them.
CALLS_CHECKED: Counter = Counter()
FUNDS_WEI = 10**30


@cache
def _deployer(filename: str):
    return boa.loads_partial(
        read_source(filename),
        compiler_args={"experimental_codegen": SETTINGS.experimental_codegen},
    )


def load_market(filename: str = "hyperx_market.vy", *args):
    """A fresh deployment (compiled once per process).

    boa renders a contract's whole storage into its error message on every revert,
    which grows with the sessions and dominated the fuzz; a short repr avoids it."""
    contract = _deployer(filename).deploy(*args)
    contract.__class__ = _quiet_class(type(contract))
    return contract


@cache
def _quiet_class(cls: type) -> type:
    return type(f"Quiet{cls.__name__}", (cls,), {"__repr__": lambda self: f"<{self.address}>"})


def revert_reason(error: boa.BoaError) -> str:
    data = error.stack_trace.last_frame.vm_error.args[0]
    if isinstance(data, bytes) and data[:4] == ERROR_SELECTOR:
        return decode(["string"], data[4:])[0]
    return ""


def exceeds_abi_bounds(name: str, args: tuple) -> bool:
    """Arguments the contract's ABI decoder rejects, without a reason, before any guard
    (see the contract's header); the spec has no bounds and gives a reason."""
    if name == "sample_data":
        return len(args[2]) > MAX_SAMPLE
    if name == "submit_review":
        _, indices, keys, proofs, sealed = args
        return (
            max(len(indices), len(keys), len(proofs)) > MAX_SAMPLE
            or any(len(p) > MAX_MERKLE_DEPTH for p in proofs)
            or len(sealed) > MAX_SEALED_KEY_BYTES
        )
    if name == "claim_reward":
        return len(args[2]) > CHUNK_SIZE or len(args[3]) > MAX_MERKLE_DEPTH
    return False


def _plain(value):
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return value.lower()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class Twin:
    """One spec market state and one deployed contract, with funded parties."""

    def __init__(self, n_parties: int = 4):
        self.contract = load_market()
        self.state = MarketState()
        self.parties = [str(boa.env.generate_address()).lower() for _ in range(n_parties)]
        for party in self.parties:
            boa.env.set_balance(party, FUNDS_WEI)
        self.received = defaultdict(int)  # wei each address got from the market (spec)
        self.touched: set[int] = set()  # sessions called since the last check_state

    def now(self) -> int:
        return boa.env.evm.patch.timestamp

    def advance(self, seconds: int) -> None:
        boa.env.time_travel(seconds=seconds)

    def balance(self, address: str) -> int:
        return boa.env.get_balance(address)

    def call(self, name: str, sender: str, value: int, *args):
        """Run one call on both sides; assert agreement; return (ok, result or reason)."""
        expected = self._spec_call(name, sender, value, args)
        contract_before = self.balance(self.contract.address)
        sender_before = self.balance(sender)
        fn = getattr(self.contract, name)
        try:
            result = fn(*args, sender=sender, value=value)
            outcome = (True, result)
            logs = self.contract.get_logs()
        except boa.BoaError as error:
            outcome = (False, revert_reason(error))
            logs = []
        spec_ok, spec_result, msg = expected
        CALLS_CHECKED[(name, spec_ok)] += 1
        assert outcome == (spec_ok, spec_result), (name, args, outcome, (spec_ok, spec_result))
        if spec_ok and name == "create_session":
            self.touched.add(spec_result)
        elif name != "create_session":
            self.touched.add(args[0])
        paid_out = sum(amount for _, amount in msg.transfers) if spec_ok else 0
        paid_to_sender = sum(a for to, a in msg.transfers if to == sender) if spec_ok else 0
        moved_in = value if spec_ok else 0
        assert self.balance(self.contract.address) - contract_before == moved_in - paid_out
        assert self.balance(sender) - sender_before == paid_to_sender - moved_in
        if spec_ok:
            got = [(type(log).__name__, self._log_args(log)) for log in logs]
            assert got == [(e.name, _plain(e.args)) for e in msg.events], (got, msg.events)
            for to, amount in msg.transfers:
                self.received[to] += amount
        return outcome

    def _spec_call(self, name, sender, value, args):
        msg = Msg(sender=sender, value=value, now=self.now() + 0)
        if (value and name not in PAYABLE) or exceeds_abi_bounds(name, args):
            return False, "", msg
        try:
            result = INTERFACES[name](self.state, msg, *args)
        except AssertionError as error:
            return False, error.args[0], msg
        return True, result, msg

    @staticmethod
    def _log_args(log) -> dict:
        fields = log._asdict()
        fields.pop("address")
        return {k: _plain(v if not isinstance(v, str) else str(v)) for k, v in fields.items()}

    def check_state(self, everything: bool = False) -> None:
        """The getters agree with the spec on every session called since the last
        check (on all sessions if `everything`), and the contract is solvent."""
        contract = self.contract
        assert contract.session_count() == len(self.state.sessions)
        sids = range(len(self.state.sessions)) if everything else sorted(self.touched)
        self.touched = set()
        for sid in sids:
            if sid >= len(self.state.sessions):
                continue
            session = self.state.sessions[sid]
            assert tuple(contract.get_config(sid)) == tuple(asdict(session.config).values())
            got = contract.get_session(sid)
            assert str(got.collector).lower() == session.collector
            assert got.st_trade == session.st_trade
            assert got.deadline == session.deadline
            assert str(got.candidate).lower() == session.candidate
            assert str(got.optimal).lower() == session.optimal
            assert got.review_submitted == session.review_submitted
            assert got.chunks_revealed == session.chunks_revealed
            assert got.refund_claimed == session.refund_claimed
            assert got.provider_count == session.provider_count
            for party in self.parties:
                profile = contract.get_profile(sid, party)
                spec_profile = session.profiles.get(party)
                if spec_profile is None:
                    assert profile.adr_data_root == b"\x00" * 32
                    continue
                assert profile.adr_data_root == spec_profile.adr_data_root
                assert profile.sample_digest == spec_profile.sample_digest
                assert profile.sample_count == spec_profile.sample_count
                assert profile.adr_feature == spec_profile.adr_feature
                assert profile.deposit_claimed == spec_profile.deposit_claimed
        escrow = sum(get_escrow(session) for session in self.state.sessions)
        assert self.balance(contract.address) == escrow


def shard_keys(pid: str, sid: int, n: int) -> list[bytes]:
    """The retrieval keys a provider commits in a session (deterministic)."""
    return [keccak256(f"{pid}:{sid}:{i}".encode()) for i in range(n)]


def run_honest_session(
    twin: Twin, samples: dict, shards: int, stage: int, late: int, check: bool = True
) -> int:
    """A session of honest moves by the collector (party 0) and two providers up to
    `stage` (1 registered .. 6 reward claimed), then `late` seconds pass and everyone
    pulls what they can: reaches review, close, compensation and the penalties."""
    collector, a, b = twin.parties[:3]
    ok, sid = twin.call(
        "create_session",
        collector,
        10**18,
        10**18,
        10**17,
        BPS if shards == 1 else 5_000,  # at least one shard to sample
        shards,
        twin.now() + 600,
        900,
        900,
        b"\x22" * 32,
    )
    assert ok, sid
    keys = {p: shard_keys(p, sid, shards) for p in (a, b)}
    for p in (a, b):
        assert twin.call("registration", p, 10**17, sid, compute_merkle_root(keys[p]), shards)[0]
    if stage >= 2:
        bound = get_sample_bound(twin.state.sessions[sid].config)
        for p in (a, b):
            indices = list(range(0, shards, max(1, shards // bound)))[:bound]
            assert twin.call("sample_data", collector, 0, sid, p, indices)[0]
            samples[(sid, p)] = indices
            assert twin.call("submit_features", p, 0, sid, keccak256(p.encode()))[0]
    if stage >= 3:
        assert twin.call("set_candidate", collector, 0, sid, a)[0]
    if stage >= 4:
        indices = samples[(sid, a)]
        proofs = [compute_merkle_proof(keys[a], i) for i in indices]
        shown = [keys[a][i] for i in indices]
        assert twin.call("submit_review", a, 0, sid, indices, shown, proofs, b"\x07" * 129)[0]
    if stage >= 5:
        assert twin.call("set_optimal", collector, 0, sid, a)[0]
    if stage >= 6:
        for index, chunk, proof in iter_reward_chunks(keys[a]):
            assert twin.call("claim_reward", a, 0, sid, index, chunk, proof)[0]
    twin.advance(late)
    for p in (a, b):
        twin.call("claim_deposit", p, 0, sid)
    twin.call("claim_refund", collector, 0, sid)
    if check:
        twin.check_state()
    return sid
