"""The spec's Prot_SC and the Vyper market on titanoboa's EVM, stepped together.

`Twin.call` sends one interface call to both and asserts that they agree: the same
success or revert reason, the same return value, the same events, the same value
movements; `Twin.check_state` compares everything the getters show. Shared by the
differential, adversarial, reject, session and re-entrancy tests, with the data the
parties commit and deliver (`Dataset`, the collector's review keys) built from the
spec's own functions.
"""

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from functools import cache, cached_property

import boa
from eth_abi import decode

from hyperx.impl.chain.compile import SETTINGS, read_source
from hyperx.spec import secp256k1
from hyperx.spec.config import BPS, MAX_MERKLE_DEPTH, MAX_SAMPLE, POINT_BYTES, ZERO_HASH
from hyperx.spec.contract import (
    INTERFACES,
    PAYABLE,
    MarketState,
    Msg,
    get_escrow,
    get_sample_bound,
)
from hyperx.spec.merkle import (
    compute_leaf,
    compute_merkle_proof,
    compute_merkle_root,
    keccak256,
)
from hyperx.spec.parties import get_dispute_claim_args
from hyperx.spec.sealing import (
    compute_key_hash,
    compute_shard_key,
    draw_ephemeral,
    seal_keys,
    seal_master_key,
)

ERROR_SELECTOR = bytes.fromhex("08c379a0")
# Calls checked in this process, per (interface, succeeded); the tests report them.
CALLS_CHECKED: Counter = Counter()
FUNDS_WEI = 10**30
UINT256_LIMIT = 2**256
ZERO_ADDRESS_BYTES = b"\x00" * 20


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


# The declared bound of each argument the contract's ABI bounds (position in the
# spec's argument list): an int for a DynArray or a Bytes, a pair for the proofs.
# Every other bytes argument is a bytes32.
ARGUMENT_BOUNDS = {
    "sample_data": {2: MAX_SAMPLE},
    "set_candidate": {2: POINT_BYTES},
    "submit_review": {
        1: MAX_SAMPLE,
        2: MAX_SAMPLE,
        3: MAX_SAMPLE,
        4: (MAX_SAMPLE, MAX_MERKLE_DEPTH),
        5: POINT_BYTES,
        6: MAX_SAMPLE,
    },
    "dispute_review": {2: POINT_BYTES, 3: MAX_SAMPLE, 4: MAX_SAMPLE},
    "claim_reward": {1: POINT_BYTES},
    "dispute_claim": {2: POINT_BYTES, 7: MAX_MERKLE_DEPTH},
}


def _fits(value, bound) -> bool:
    if isinstance(bound, tuple):
        return len(value) <= bound[0] and all(_fits(item, bound[1]) for item in value)
    if isinstance(value, (list, tuple)):
        return len(value) <= bound and all(_fits(item, None) for item in value)
    if isinstance(value, bytes):
        return len(value) <= bound if bound is not None else len(value) == 32
    if isinstance(value, int):
        return 0 <= value < UINT256_LIMIT
    return True


def exceeds_abi_bounds(name: str, args: tuple) -> bool:
    """Arguments the contract's ABI decoder rejects, without a reason, before any guard
    (see the contract's header); the spec has no bounds and gives a reason."""
    bounds = ARGUMENT_BOUNDS.get(name, {})
    return not all(_fits(arg, bounds.get(i)) for i, arg in enumerate(args))


def is_encodable(name: str, args: tuple) -> bool:
    """Can the caller's ABI encoder write these arguments at all? Over-long arrays
    and byte strings can be written (the contract refuses them); integers outside
    uint256 and digests that are not 32 bytes cannot be."""
    bounds = ARGUMENT_BOUNDS.get(name, {})
    unbounded = {i: (UINT256_LIMIT, UINT256_LIMIT) for i in bounds if isinstance(bounds[i], tuple)}
    unbounded.update({i: UINT256_LIMIT for i in bounds if not isinstance(bounds[i], tuple)})
    return all(_fits(arg, unbounded.get(i)) for i, arg in enumerate(args))


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
        # (sid, event name) -> the args of the last such event: what the parties read
        self.last_events: dict[tuple[int, str], dict] = {}

    def now(self) -> int:
        return boa.env.evm.patch.timestamp

    def advance(self, seconds: int) -> None:
        boa.env.time_travel(seconds=seconds)

    def balance(self, address: str) -> int:
        return boa.env.get_balance(address)

    def session(self, sid: int):
        """The spec's session `sid`, or None if it does not exist."""
        sessions = self.state.sessions
        return sessions[sid] if 0 <= sid < len(sessions) else None

    def call(self, name: str, sender: str, value: int, *args):
        """Run one call on both sides; assert agreement; return (ok, result or reason)."""
        assert is_encodable(name, args), (name, args)
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
            for event in msg.events:
                self.last_events[(event.args["sid"], event.name)] = event.args
        return outcome

    def _spec_call(self, name, sender, value, args):
        msg = Msg(sender=sender, value=value, now=self.now())
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
            session = self.session(sid)
            if session is None:
                continue
            assert tuple(contract.get_config(sid)) == tuple(asdict(session.config).values())
            got = contract.get_session(sid)
            assert str(got.collector).lower() == session.collector
            assert got.st_trade == session.st_trade
            assert got.deadline == session.deadline
            assert str(got.candidate).lower() == session.candidate
            assert str(got.optimal).lower() == session.optimal
            review_key = bytes.fromhex(str(got.review_key)[2:])
            assert review_key == (session.review_key or ZERO_ADDRESS_BYTES)
            assert got.delivery_digest == session.delivery_digest
            assert got.review_submitted == session.review_submitted
            assert got.review_rejected == session.review_rejected
            assert got.claim_rejected == session.claim_rejected
            assert got.refund_claimed == session.refund_claimed
            assert got.provider_count == session.provider_count
            for party in self.parties:
                profile = contract.get_profile(sid, party)
                spec_profile = session.profiles.get(party)
                if spec_profile is None:
                    assert tuple(profile) == (ZERO_HASH, ZERO_HASH, 0, ZERO_HASH, False)
                    continue
                assert profile.adr_data_root == spec_profile.adr_data_root
                assert profile.sample_digest == spec_profile.sample_digest
                assert profile.sample_count == spec_profile.sample_count
                assert profile.adr_feature == spec_profile.adr_feature
                assert profile.deposit_claimed == spec_profile.deposit_claimed
        escrow = sum(get_escrow(session) for session in self.state.sessions)
        assert self.balance(contract.address) == escrow


# What the parties commit and deliver, built with the spec's functions


@dataclass(frozen=True)
class Dataset:
    """A provider's commitment in one session: per-shard keys from one master key,
    the shards' content addresses, and the Merkle tree over (cid_i, h_i)."""

    master_key: bytes
    cids: tuple[bytes, ...]
    key_hashes: tuple[bytes, ...]

    @cached_property
    def leaves(self) -> list[bytes]:
        return [compute_leaf(c, h) for c, h in zip(self.cids, self.key_hashes, strict=True)]

    @cached_property
    def root(self) -> bytes:
        return compute_merkle_root(self.leaves)

    @property
    def manifest(self) -> bytes:
        """Stands for the manifest's datastore address (the contract only logs it)."""
        return keccak256(b"manifest" + self.root)

    def proof(self, index: int) -> list[bytes]:
        return compute_merkle_proof(self.leaves, index)

    def shard_key(self, index: int) -> bytes:
        return compute_shard_key(self.master_key, index)

    def review_args(self, sid: int, indices: list[int], review_key: bytes) -> tuple:
        """submit_review's arguments: the sampled leaves, their proofs, and their
        keys sealed to `review_key` (slot = position in the sample)."""
        ephemeral, sealed = seal_keys(
            review_key,
            [self.shard_key(i) for i in indices],
            sid,
            list(range(len(indices))),
            draw_ephemeral(self.master_key + b"review"),
        )
        return (
            sid,
            list(indices),
            [self.cids[i] for i in indices],
            [self.key_hashes[i] for i in indices],
            [self.proof(i) for i in indices],
            ephemeral,
            sealed,
        )

    def claim_args(self, sid: int, review_key: bytes, master_key: bytes | None = None) -> tuple:
        """claim_reward's arguments: the master key (or another) sealed to `review_key`."""
        ephemeral, sealed = seal_master_key(
            review_key,
            self.master_key if master_key is None else master_key,
            sid,
            draw_ephemeral(self.master_key + b"claim"),
        )
        return (sid, ephemeral, sealed)


@cache
def dataset(pid: str, sid: int, n_shards: int) -> Dataset:
    """The dataset a provider commits in a session (deterministic)."""
    master_key = keccak256(f"master:{pid}:{sid}".encode())
    return Dataset(
        master_key,
        tuple(keccak256(f"cid:{pid}:{sid}:{i}".encode()) for i in range(n_shards)),
        tuple(compute_key_hash(compute_shard_key(master_key, i)) for i in range(n_shards)),
    )


@cache
def review_secret(sid: int) -> int:
    """The secret of the review key the collector names for session `sid`."""
    return secp256k1.derive_secret(f"review:{sid}".encode())


@cache
def review_key(sid: int) -> bytes:
    return secp256k1.compute_public_key(review_secret(sid))


def not_a_point() -> bytes:
    """64 bytes whose x-coordinate is below N and on no point of the curve:
    ecrecover, and the spec, give the zero address for it."""
    x = 1
    while secp256k1.lift_x(x, False) is not None:
        x += 1
    return x.to_bytes(32, "big") + b"\x00" * 32


def dispute_review_args(sid: int, review: dict, position: int) -> tuple:
    """dispute_review's arguments against a SubmitReview event's arguments."""
    return (
        sid,
        review_secret(sid),
        review["ephemeral"],
        list(review["sealed_keys"]),
        list(review["key_hashes"]),
        position,
    )


def dispute_claim_args(sid: int, claim: dict, data: Dataset, index: int) -> tuple:
    """dispute_claim's arguments against a ClaimReward event's arguments, opening
    shard `index` of the optimal provider's commitment."""
    manifest = list(zip(data.cids, data.key_hashes, strict=True))
    return get_dispute_claim_args(sid, review_secret(sid), claim, manifest, index)


JUNK = ("key", "off curve")  # a delivery sealed with a wrong key, or to no point


def run_session(
    twin: Twin,
    shards: int,
    stage: int,
    late: int,
    *,
    junk: str | None = None,
    review_s: int = 900,
    claim_s: int = 900,
    samples: dict | None = None,
    check: bool = True,
) -> int:
    """A session of the collector (party 0) and two providers, honest up to `stage`
    (1 registered, 2 sampled with features, 3 candidate, 4 review submitted,
    5 promoted, 6 master key delivered), then `late` seconds pass and everyone pulls
    what they can: reaches the deal, compensation, and each penalty. The collector
    tries to dispute each good delivery, which must be refused. With `junk` (one of
    JUNK), the candidate's last delivery (review at stage 4, master key at stage 6)
    does not open to its committed keys and the collector disputes it at once."""
    assert junk in (None, *JUNK) and (junk is None or stage in (4, 6)), (junk, stage)
    collector, a, b = twin.parties[:3]
    samples = {} if samples is None else samples
    ok, sid = twin.call(
        "create_session",
        collector,
        10**18,
        10**18,
        10**17,
        BPS if shards == 1 else 5_000,  # at least one shard to sample
        shards,
        twin.now() + 600,
        review_s,
        claim_s,
        b"\x22" * 32,
    )
    assert ok, sid
    data = {p: dataset(p, sid, shards) for p in (a, b)}
    for p in (a, b):
        ok, reason = twin.call(
            "registration", p, 10**17, sid, data[p].root, shards, data[p].manifest
        )
        assert ok, reason
    if stage >= 2:
        bound = get_sample_bound(twin.state.sessions[sid].config)
        for p in (a, b):
            indices = list(range(0, shards, max(1, shards // bound)))[:bound]
            assert twin.call("sample_data", collector, 0, sid, p, indices)[0]
            samples[(sid, p)] = indices
            assert twin.call("submit_features", p, 0, sid, keccak256(p.encode()))[0]
    if stage >= 3:
        assert twin.call("set_candidate", collector, 0, sid, a, review_key(sid))[0]
    if stage >= 4:
        junk_review = junk if stage == 4 else None
        review = list(data[a].review_args(sid, samples[(sid, a)], review_key(sid)))
        if junk_review == "key":
            review[6] = [bytes(32)] + review[6][1:]
        elif junk_review == "off curve":
            review[5] = not_a_point()
        assert twin.call("submit_review", a, 0, *review)[0]
        position = len(review[1]) - 1 if junk_review == "off curve" else 0
        args = dispute_review_args(sid, twin.last_events[(sid, "SubmitReview")], position)
        expected = (True, None) if junk_review else (False, "hyperx: sealed key is valid")
        assert twin.call("dispute_review", collector, 0, *args) == expected
    if stage >= 5:
        assert twin.call("set_optimal", collector, 0, sid, a)[0]
    if stage >= 6:
        claim = list(data[a].claim_args(sid, review_key(sid), bytes(32) if junk else None))
        if junk == "off curve":
            claim[1] = not_a_point()
        assert twin.call("claim_reward", a, 0, *claim)[0]
        delivery = twin.last_events[(sid, "ClaimReward")]
        args = dispute_claim_args(sid, delivery, data[a], shards - 1)
        expected = (True, None) if junk else (False, "hyperx: master key is valid")
        assert twin.call("dispute_claim", collector, 0, *args) == expected
    twin.advance(late)
    for p in (a, b):
        twin.call("claim_deposit", p, 0, sid)
    twin.call("claim_refund", collector, 0, sid)
    if check:
        twin.check_state()
    return sid


def ecrecover_cases() -> dict[str, tuple[int, int, int]]:
    """(v, r, s) inputs of ecrecover(0, v, r, s), as the contract's disputes use it
    (`hyperx.spec.secp256k1`): valid ones, and each kind the precompile refuses."""
    n, gx = secp256k1.N, secp256k1.GX
    secret = review_secret(0)
    point = secp256k1.decode_point(review_key(1))
    x, parity = point[0], point[1] & 1
    on_curve_above_n = next(r for r in range(n, secp256k1.P) if secp256k1.lift_x(r, False))
    return {
        "public address of a secret (E = G)": (27, gx, secret * gx % n),
        "shared address (E = a review key)": (27 + parity, x, secret * x % n),
        "the other y-parity": (28 - parity, x, secret * x % n),
        "high s": (27, gx, n - 1),
        "r = 0": (27, 0, 5),
        "r = N": (27, n, 5),
        "r >= N, on the curve": (27, on_curve_above_n, 5),
        "r not on the curve": (27, int.from_bytes(not_a_point()[:32], "big"), 5),
        "s = 0 (secret 0 or N)": (27, gx, 0),
        "s = N": (27, gx, n),
        "v = 26": (26, gx, 5),
        "v = 29": (29, gx, 5),
    }
