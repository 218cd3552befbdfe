"""Differential check: the Z3 encoding and the executable spec agree call by call.

Each schedule is drawn from its own seed (`random.Random(seed)`, seeds 0, 1, ...): calls
on one session, mostly the honest next move, often a perturbed one (a wrong caller, a
bound off by one, a bad Merkle proof, a junk seal, a wrong secret, a call at exactly
a deadline). Each call goes through F_BC's envelope (`hyperx.spec.chain.Blockchain.submit`:
no sender 0, no value to a non-payable interface), then through the spec module under
test (`contract.INTERFACES`) and through `model.ConcreteModel`, which evaluates the
very terms of `model.symbolic_step` that the proofs reason about, at the call's
values. The encoding's free arguments get their concrete meaning from the spec's own
primitives: digests and Merkle checks from `hyperx.spec.merkle`, and the disputes'
facts ("the secret is the review key's", "the sealed key does not open to its
committed hash") from real secp256k1 seals (`hyperx.spec.sealing`,
`hyperx.spec.secp256k1`), so schedules hold successful disputes, disputes refused
because the seal was good, and every way in between. After every call both must
agree on: accepted or rejected, every session and profile field, the transfer (payee
and amount), and the spec's getters (get_escrow, get_final_deadline,
get_sample_bound, get_compensation, get_forfeiter, get_refund, get_deposit_payout,
is_settled, is_deal, is_compensated). A rejected call is reverted (the state before
it is restored), as the EVM would. A failure names its seed, so it replays. The
module is a parameter, so `hyperx verify --mutants` can hand in mutated copies of the
spec and see this check fail.
"""

import copy
import functools
import random
from dataclasses import dataclass
from types import ModuleType

from hyperx.spec import merkle, secp256k1
from hyperx.spec.chain import Blockchain
from hyperx.spec.config import BPS, MASTER_KEY_SLOT, MAX_PERIOD_S, MIN_PERIOD_S, ZERO_HASH
from hyperx.spec.sealing import (
    compute_key_hash,
    compute_shard_key,
    draw_ephemeral,
    open_sealed_key,
    seal_keys,
)

from . import model
from .model import CLOSED, CONFIG_INTS, PENDING, REVIEWED, REVIEWING, ConcreteModel

ADDRESSES = (1, 2, 3, 4, 5)  # 1 is the collector; 5 never registers honestly
COLLECTOR = 1
PROVIDERS = (2, 3, 4)
SID = 0  # the session the encoding stands for
# Larger shard counts get an opaque root (a tree that big costs seconds to hash):
# such a provider's reviews and claims fail their Merkle checks, the rest runs.
MAX_TREE_SHARDS = 4096


class Divergence(AssertionError):
    """The spec and the encoding disagree."""


def to_address(n: int) -> str:
    return "0x" + f"{n:040x}"


def _from_address(address: str) -> int:
    return int(address, 16)


def _from_word(word: bytes) -> int:
    return int.from_bytes(word, "big")


def _to_word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def _label(*parts) -> bytes:
    """A deterministic 32-byte value named by `parts` (keys, addresses, junk)."""
    return merkle.keccak256(repr(parts).encode())


# Secrets: a few fixed ones, so the curve multiplications are cached across schedules.


@functools.cache
def get_secret(name: str, k: int = 0) -> int:
    return secp256k1.derive_secret(_label("secret", name, k))


@functools.cache
def get_public_key(secret: int) -> bytes:
    return secp256k1.compute_public_key(secret)


@functools.cache
def get_ephemeral(k: int) -> int:
    return draw_ephemeral(_label("ephemeral", k))


NOT_A_POINT = b"\x07" * 64  # 64 bytes whose x is no curve point's


@dataclass(frozen=True)
class Dataset:
    """A provider's commitment: shard i has content address cids[i] and key
    compute_shard_key(master, i), whose hash the leaf commits, except at `junk`
    where the committed key hash is not the key's (a dataset the master key does
    not open in full)."""

    master: bytes
    cids: tuple[bytes, ...]
    key_hashes: tuple[bytes, ...]
    levels: tuple[tuple[bytes, ...], ...]  # leaves (padded) first, the root last

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    def proof(self, index: int) -> list[bytes]:
        return [level[(index >> height) ^ 1] for height, level in enumerate(self.levels[:-1])]


@functools.lru_cache(maxsize=64)
def get_dataset(owner: int, n_shards: int, junk: int | None) -> Dataset | None:
    if n_shards > MAX_TREE_SHARDS:
        return None
    master = _label("master", owner)
    cids = tuple(_label("cid", owner, i) for i in range(n_shards))
    key_hashes = tuple(
        _label("junk", owner, i) if i == junk else compute_key_hash(compute_shard_key(master, i))
        for i in range(n_shards)
    )
    depth = merkle.get_merkle_depth(n_shards)
    level = [merkle.compute_leaf(c, h) for c, h in zip(cids, key_hashes, strict=True)]
    level += [ZERO_HASH] * (2**depth - n_shards)
    levels = [tuple(level)]
    for _ in range(depth):
        level = [merkle.keccak256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
        levels.append(tuple(level))
    return Dataset(master, cids, key_hashes, tuple(levels))


def get_root(owner: int, n_shards: int, junk: int | None) -> bytes:
    dataset = get_dataset(owner, n_shards, junk)
    return dataset.root if dataset else _label("opaque root", owner)


# The crypto facts of a dispute, as the spec computes them


def is_review_seal_invalid(secret, ephemeral, sealed_keys, key_hashes, position) -> bool:
    """The sealed key at `position` does not open to its committed hash."""
    key = open_sealed_key(secret, ephemeral, sealed_keys[position], SID, position)
    return key is None or compute_key_hash(key) != key_hashes[position]


def is_master_key_invalid(secret, ephemeral, sealed_master, index, key_hash) -> bool:
    """The sealed master key does not give shard `index` the committed key hash."""
    master = open_sealed_key(secret, ephemeral, sealed_master, SID, MASTER_KEY_SLOT)
    return master is None or compute_key_hash(compute_shard_key(master, index)) != key_hash


class Schedule:
    """One drawn schedule: the spec's state and the encoding's, stepped together,
    and what the parties hold (datasets, the review key's secret, deliveries)."""

    def __init__(self, contract: ModuleType, seed: int):
        self.contract = contract
        self.rng = random.Random(seed)
        self.spec = contract.MarketState()
        self.model = ConcreteModel(ADDRESSES)
        self.chain = Blockchain()
        self.now = 1_000_000
        self.samples: dict[int, list[int]] = {}
        self.junk: dict[int, int | None] = {}  # provider -> its junk leaf, if any
        self.review_secret = get_secret("review", self.pick([0, 1]))
        self.review_key: bytes | None = None  # as set_candidate named it
        self.review: tuple | None = None  # (ephemeral, sealed_keys, key_hashes) delivered
        self.claim: tuple | None = None  # (ephemeral, sealed_master) delivered
        self.view: dict = {}  # the encoding's view after the last accepted call
        self.log: list[str] = []

    # Drawing

    def pick(self, options):
        return self.rng.choice(list(options))

    def chance(self, in_twenty: int) -> bool:
        """True with probability in_twenty/20."""
        return self.rng.random() * 20 < in_twenty

    def perturb(self, *faults: str) -> str:
        """Mostly "none"; else one of `faults`, the way this call goes wrong."""
        return "none" if self.chance(14) else self.pick(faults)

    def marks(self) -> list[int]:
        """The deadlines of the session (the final one as the encoding last gave it)."""
        m = self.model
        final = self.view.get("get_final_deadline", m.get("deadline"))
        return [m.get("cf_evaluation_deadline"), m.get("deadline"), final]

    def draw_now(self) -> int:
        if self.chance(18) or not self.model.get("created"):
            return self.now + self.pick([0, 1])
        marks = self.marks()
        exact = [t for t in marks if t >= self.now]  # a call at exactly a deadline
        near = sorted({t + d for t in marks for d in (-1, 1) if t + d >= self.now})
        return self.pick(exact + exact + near) if exact or near else self.now

    def draw_late(self) -> int:
        """A time at or after the current deadline: somebody walked away, or waits."""
        deadline, final = self.model.get("deadline"), self.marks()[2]
        marks = [deadline - 1, deadline, deadline + 1, final, final + 1]
        return self.pick(sorted({t for t in marks if t >= self.now}) or [self.now])

    def draw_sender(self, honest: int) -> int:
        if self.chance(19.5):
            return honest if self.chance(16) else self.pick(ADDRESSES)
        return 0  # F_BC refuses it

    # What the honest parties see

    def dataset(self, owner: int) -> Dataset | None:
        return get_dataset(owner, self.model.get("cf_shards"), self.junk.get(owner))

    def model_review_key(self) -> bytes:
        """The review key's address as the encoding holds it (b"" before one is named)."""
        value = self.model.get("review_key")
        return value.to_bytes(20, "big") if value else b""

    def review_fault(self) -> int | None:
        """A position of the delivered review whose sealed key does not open to its
        committed hash (the collector's check), or None."""
        if self.review is None:
            return None
        ephemeral, sealed_keys, key_hashes = self.review
        for position in range(len(sealed_keys)):
            if is_review_seal_invalid(
                self.review_secret, ephemeral, sealed_keys, key_hashes, position
            ):
                return position
        return None

    def claim_fault(self) -> int | None:
        """A shard of P_opt whose committed key hash the delivered master key does not
        give (the collector checks the junk leaf, if any, and the first shard)."""
        dataset = self.dataset(self.model.get("optimal")) if self.claim else None
        if dataset is None:
            return None
        ephemeral, sealed_master = self.claim
        junk = self.junk.get(self.model.get("optimal"))
        for index in ([junk] if junk is not None else []) + [0]:
            if is_master_key_invalid(
                self.review_secret, ephemeral, sealed_master, index, dataset.key_hashes[index]
            ):
                return index
        return None

    def waits(self) -> bool:
        """A deal whose master key the collector found good: all wait for the window."""
        m = self.model
        return m.get("st_trade") == CLOSED and self.claim_fault() is None

    # The honest next move, from the encoding's state

    def next_move(self) -> str:
        """What the state asks for next; now and then a party is early or late and
        makes a move of another phase (the guards must stop it)."""
        m = self.model
        if not m.get("created"):
            return "create_session"
        st_trade = m.get("st_trade")
        if self.now >= m.get("deadline") and self.chance(16):
            return "claim_deposit" if self.chance(14) else "claim_refund"
        if st_trade == PENDING and self.now < m.get("cf_evaluation_deadline"):
            registered = [p for p in PROVIDERS if m.profile("registered", p)]
            if len(registered) < 3 and (not registered or self.chance(8)):
                return "registration"
            featured = any(m.profile("adr_feature", p) for p in registered)
            if featured and self.chance(3):  # the collector picks before all are in
                return "set_candidate"
            for p in registered:
                if m.profile("sample_count", p) == 0:
                    return "submit_features" if self.chance(1) else "sample_data"
                if not m.profile("adr_feature", p):
                    return "set_candidate" if self.chance(1) else "submit_features"
            return "set_candidate"
        if st_trade == PENDING:
            evaluation = ["registration", "sample_data", "submit_features"]
            return self.pick(evaluation) if self.chance(4) else "set_candidate"
        # One roll for the whole choice: Hypothesis tends to repeat a value it drew.
        roll = self.pick(range(20))
        if roll >= 18:
            return self.pick(
                ["submit_features", "set_candidate", "claim_reward", "dispute_claim"]
                + ["dispute_review", "set_optimal", "submit_review"]
            )
        if st_trade == REVIEWING and not m.get("review_submitted"):
            return "set_optimal" if roll >= 15 else "submit_review"
        if st_trade == REVIEWING:
            caught = self.review_fault() is not None
            if roll >= 14:  # a collector that errs: promotes junk, or disputes a good review
                return "dispute_review" if not caught else "set_optimal"
            return "dispute_review" if caught else "set_optimal"
        if st_trade == REVIEWED:  # or the collector disputes the review it promoted
            return (
                "claim_reward" if roll < 13 else "dispute_review" if roll < 15 else "dispute_claim"
            )
        return "dispute_claim" if roll < 15 else self.pick(["claim_reward", "claim_refund"])

    # Arguments: (sender, value, spec_args, model_args)

    def args_create_session(self):
        now = self.now
        fields = {
            "cf_reward": 10**18,
            "cf_deposit": self.pick([10**17, 0, 3]),
            "cf_pct_bps": self.pick([2_500, 10_000, 5_000]),
            "cf_shards": self.pick([4, 8, 16, 129]),  # 129 at CF_% 100%: MAX_SAMPLE bounds
            "cf_evaluation_deadline": now + self.pick([600, MAX_PERIOD_S, 600, MIN_PERIOD_S]),
            "cf_review_s": self.pick([MIN_PERIOD_S, 600, MAX_PERIOD_S]),
            "cf_claim_s": self.pick([MIN_PERIOD_S, 900, MAX_PERIOD_S]),
        }
        theta = b"\x11" * 32
        periods = [0, MIN_PERIOD_S - 1, MIN_PERIOD_S, MAX_PERIOD_S, MAX_PERIOD_S + 1]
        faults = [*fields, "theta_zero", "theta_short", "value", "smallest_pct"]
        roll = self.pick(range(2 * len(faults)))  # half the time a fault, each as likely
        bad = faults[roll - len(faults)] if roll >= len(faults) else "none"
        if bad in fields:
            fields[bad] = {
                "cf_reward": self.pick([0, 1]),
                "cf_deposit": 10**17,
                "cf_pct_bps": self.pick([0, BPS + 1, BPS, 1, 2_499]),
                "cf_shards": self.pick([0, 2**16 + 1, 2**16, 1, 3]),
                "cf_evaluation_deadline": now + self.pick([0, *periods[1:]]),
                "cf_review_s": self.pick(periods),
                "cf_claim_s": self.pick(periods),
            }[bad]
        elif bad == "smallest_pct":  # the smallest valid CF_%: one shard in BPS
            fields["cf_pct_bps"], fields["cf_shards"] = 1, BPS
        elif bad == "theta_zero":
            theta = ZERO_HASH
        elif bad == "theta_short":
            theta = b"\x11" * 31
        value = fields["cf_reward"] + (self.pick([1, -1]) if bad == "value" else 0)
        spec_args = [*fields.values(), theta]
        model_args = [*fields.values(), _from_word(theta), len(theta)]
        return self.draw_sender(COLLECTOR), value, spec_args, model_args

    def args_registration(self):
        m = self.model
        new = [p for p in PROVIDERS if not m.profile("registered", p)]
        sender = new[0] if new and self.chance(17) else self.pick(ADDRESSES)
        n_shards = m.get("cf_shards")
        junk = self.pick([0, n_shards // 2, n_shards - 1])  # few, so datasets are cached
        self.junk.setdefault(sender, None if self.chance(14) else junk)
        root = get_root(sender, n_shards, self.junk[sender])
        manifest = _label("manifest", sender)
        value = m.get("cf_deposit")
        bad = self.perturb("value", "n_shards", "root_zero", "root_short", "manifest_zero")
        if bad == "value":
            value += 1
        elif bad == "n_shards":
            n_shards += self.pick([1, -1])
        elif bad == "root_zero":
            root = ZERO_HASH
        elif bad == "root_short":
            root = root[:31]
        elif bad == "manifest_zero":
            manifest = self.pick([ZERO_HASH, manifest[:31]])
        spec_args = [root, n_shards, manifest]
        model_args = [_from_word(root), len(root), n_shards, _from_word(manifest), len(manifest)]
        return sender, value, spec_args, model_args

    def args_sample_data(self):
        m = self.model
        unsampled = [
            p for p in PROVIDERS if m.profile("registered", p) and not m.profile("sample_count", p)
        ]
        pid = unsampled[0] if unsampled and self.chance(17) else self.pick(ADDRESSES)
        n_shards = m.get("cf_shards")
        bound = m.get("sample_bound")
        size = self.pick([1, bound, 2]) if self.chance(17) else self.pick([0, bound + 1])
        size = max(0, min(size, n_shards))
        start = self.pick([0, n_shards - size])
        indices = list(range(start, start + size))
        bad = self.perturb("duplicate", "descending", "out_of_range")
        if bad == "duplicate" and size >= 2:
            indices[1] = indices[0]
        elif bad == "descending" and size >= 2:
            indices[0], indices[1] = indices[1], indices[0]
        elif bad == "out_of_range" and size >= 1:
            indices[-1] = n_shards
        digest = _from_word(merkle.compute_sample_digest(indices))
        indices_ok = model.indices_ascending_in_range(indices, m.state.cf_shards)
        sender = self.draw_sender(m.get("collector"))
        return sender, 0, [to_address(pid), indices], [pid, len(indices), indices_ok, digest]

    def args_submit_features(self):
        m = self.model
        waiting = [
            p for p in PROVIDERS if m.profile("sample_count", p) and not m.profile("adr_feature", p)
        ]
        sender = self.draw_sender(waiting[0] if waiting else 2)
        feature = {
            "none": b"\x22" * 31 + bytes([sender]),
            "zero": ZERO_HASH,
            "short": b"\x22" * 31,
        }[self.perturb("zero", "short")]
        return sender, 0, [feature], [_from_word(feature), len(feature)]

    def args_set_candidate(self):
        m = self.model
        featured = [p for p in PROVIDERS if m.profile("adr_feature", p)]
        pid = self.pick(featured) if featured and self.chance(17) else self.pick((0, *ADDRESSES))
        key = get_public_key(self.review_secret)
        bad = self.perturb("short", "long", "not_a_point", "foreign")
        if bad == "short":
            key = key[:63]
        elif bad == "long":
            key = key + b"\x00"
        elif bad == "not_a_point":  # accepted: the collector only hurts itself
            key = NOT_A_POINT
        elif bad == "foreign":  # a key whose secret the collector does not hold
            key = get_public_key(get_secret("foreign"))
        address = _from_word(secp256k1.address_of_encoding(key))
        sender = self.draw_sender(m.get("collector"))
        return sender, 0, [to_address(pid), key], [pid, len(key), address]

    def seal(self, keys: list[bytes], slots: list[int], ephemeral_secret: int):
        """`keys` sealed to the named review key; junk if it is not a point."""
        key = self.review_key or get_public_key(self.review_secret)
        if secp256k1.decode_point(key) is None:
            junk = [_label("unsealable", slot) for slot in slots]
            return get_public_key(ephemeral_secret), junk
        return seal_keys(key, keys, SID, slots, ephemeral_secret)

    def args_submit_review(self):
        """The sender opens its own sample with its own keys (valid for the candidate,
        and for anyone else a well-formed review that only the guards can stop)."""
        m = self.model
        sender = self.draw_sender(m.get("candidate") or 2)
        n_shards = m.get("cf_shards")
        indices = list(self.samples.get(sender, [0]))
        bad = self.perturb(
            "junk_seal", "wrong_slot", "bad_ephemeral", "short_ephemeral", "indices", "leaf"
        )
        if bad == "indices":  # a validly opened set of shards, but not the sample
            indices = [i + 1 for i in indices] if indices[-1] + 1 < n_shards else indices[1:]
        dataset = self.dataset(sender)
        if dataset is None:
            cids = [_label("cid", sender, i) for i in indices]
            key_hashes = [_label("hash", sender, i) for i in indices]
            proofs, keys = [[] for _ in indices], [_label("key", i) for i in indices]
        else:
            cids = [dataset.cids[i] for i in indices]
            key_hashes = [dataset.key_hashes[i] for i in indices]
            proofs = [dataset.proof(i) for i in indices]
            keys = [compute_shard_key(dataset.master, i) for i in indices]
        slots = list(range(len(indices)))
        if bad == "wrong_slot":
            slots = [slot + 1 for slot in slots]
        ephemeral, sealed = self.seal(keys, slots, get_ephemeral(self.pick([0, 1])))
        if bad == "junk_seal" and sealed:
            sealed[-1] = _label("junk seal")
        elif bad == "bad_ephemeral":
            ephemeral = NOT_A_POINT
        elif bad == "short_ephemeral":
            ephemeral = ephemeral[:63]
        elif bad == "leaf" and key_hashes:
            key_hashes[0] = _label("forged")
        if self.chance(1):
            proofs = proofs[:-1]
        root = _to_word(m.profile("adr_data_root", sender))
        lengths_ok = len(cids) == len(key_hashes) == len(proofs) == len(sealed) == len(indices)
        proofs_ok = lengths_ok and all(
            merkle.is_valid_merkle_proof(merkle.compute_leaf(c, h), i, pr, root, n_shards)
            for c, h, i, pr in zip(cids, key_hashes, indices, proofs, strict=True)
        )
        digest = _from_word(merkle.compute_sample_digest(indices))
        delivery = _from_word(merkle.compute_review_digest(ephemeral, sealed, key_hashes))
        spec_args = [indices, cids, key_hashes, proofs, ephemeral, sealed]
        model_args = [digest, lengths_ok, proofs_ok, len(ephemeral), delivery]
        return sender, 0, spec_args, model_args

    def args_dispute_review(self):
        m = self.model
        if self.review is None:  # nothing delivered: the collector makes one up
            ephemeral, sealed = self.seal([_label("key")], [0], get_ephemeral(0))
            key_hashes = [_label("hash")]
        else:
            ephemeral, sealed, key_hashes = self.review
        sealed = list(sealed)
        fault = self.review_fault()
        position = fault if fault is not None else self.pick(range(len(sealed)))
        secret = self.review_secret
        bad = self.perturb("wrong_secret", "tampered", "position")
        if bad == "wrong_secret":
            secret = get_secret("foreign")
        elif bad == "tampered":  # at the disputed position: only the digest rejects it
            sealed[position] = _label("tampered")
        elif bad == "position":
            position = self.pick([len(sealed), -1])
        in_range = 0 <= position < len(sealed)
        secret_ok = secp256k1.compute_public_address(secret) == self.model_review_key()
        key_invalid = in_range and is_review_seal_invalid(
            secret, ephemeral, sealed, key_hashes, position
        )
        delivery = _from_word(merkle.compute_review_digest(ephemeral, sealed, key_hashes))
        spec_args = [secret, ephemeral, sealed, key_hashes, position]
        model_args = [delivery, position, len(sealed), secret_ok, key_invalid]
        return self.draw_sender(m.get("collector")), 0, spec_args, model_args

    def args_set_optimal(self):
        m = self.model
        pid = m.get("candidate") if self.chance(17) else self.pick((0, *ADDRESSES))
        return self.draw_sender(m.get("collector")), 0, [to_address(pid)], [pid]

    def args_claim_reward(self):
        m = self.model
        sender = self.draw_sender(m.get("optimal") or 2)
        dataset = self.dataset(m.get("optimal") or sender)
        master = dataset.master if dataset else _label("master", sender)
        bad = self.perturb("junk_master", "wrong_master", "bad_ephemeral", "short_ephemeral")
        if bad == "wrong_master":
            master = _label("master", 5)
        ephemeral_secret = get_ephemeral(self.pick([0, 1]))
        ephemeral, (sealed_master,) = self.seal([master], [MASTER_KEY_SLOT], ephemeral_secret)
        if bad == "junk_master":
            sealed_master = _label("junk master")
        elif bad == "bad_ephemeral":
            ephemeral = NOT_A_POINT
        elif bad == "short_ephemeral":
            ephemeral = ephemeral[:63]
        delivery = _from_word(merkle.compute_claim_digest(ephemeral, sealed_master))
        return sender, 0, [ephemeral, sealed_master], [len(ephemeral), delivery]

    def args_dispute_claim(self):
        m = self.model
        optimal = m.get("optimal") or 2
        n_shards = m.get("cf_shards")
        if self.claim is None:
            ephemeral, (sealed_master,) = self.seal(
                [_label("master", optimal)], [MASTER_KEY_SLOT], get_ephemeral(0)
            )
        else:
            ephemeral, sealed_master = self.claim
        fault = self.claim_fault()
        index = fault if fault is not None else self.pick([0, n_shards - 1])
        dataset = self.dataset(optimal)
        if dataset is None:
            cid, key_hash, proof = _label("cid", optimal, index), _label("hash"), []
        else:
            cid, key_hash, proof = (
                dataset.cids[index],
                dataset.key_hashes[index],
                dataset.proof(index),
            )
        secret = self.review_secret
        bad = self.perturb("wrong_secret", "tampered", "leaf", "index")
        if bad == "wrong_secret":
            secret = get_secret("foreign")
        elif bad == "tampered":
            sealed_master = _label("tampered")
        elif bad == "leaf":
            key_hash = _label("forged")
        elif bad == "index":
            index = self.pick([index + 1, n_shards, -1])
        root = _to_word(m.profile("adr_data_root", m.get("optimal")))
        leaf_opens = merkle.is_valid_merkle_proof(
            merkle.compute_leaf(cid, key_hash), index, proof, root, n_shards
        )
        secret_ok = secp256k1.compute_public_address(secret) == self.model_review_key()
        key_invalid = index >= 0 and is_master_key_invalid(
            secret, ephemeral, sealed_master, index, key_hash
        )
        delivery = _from_word(merkle.compute_claim_digest(ephemeral, sealed_master))
        spec_args = [secret, ephemeral, sealed_master, index, cid, key_hash, proof]
        model_args = [delivery, leaf_opens, secret_ok, key_invalid]
        return self.draw_sender(m.get("collector")), 0, spec_args, model_args

    def args_claim_deposit(self):
        m = self.model
        waiting = [
            p
            for p in PROVIDERS
            if m.profile("registered", p) and not m.profile("deposit_claimed", p)
        ]
        sender = self.draw_sender(self.pick(waiting) if waiting else 2)
        return sender, 0, [], []

    def args_claim_refund(self):
        return self.draw_sender(self.model.get("collector") or COLLECTOR), 0, [], []

    # Stepping

    def is_finished(self) -> bool:
        """Settled and emptied: no call can change anything any more."""
        m = self.model
        return m.get("created") and m.get("balance") == 0 and self.now >= m.get("deadline")

    def step(self) -> None:
        roll = self.pick(range(20))
        created = self.model.get("created")
        # Somebody walks away, most often in the middle of a deal (where penalties and
        # compensation apply), or everybody waits out the complaint window; the others
        # pull after the deadline.
        st_trade = self.model.get("st_trade")
        late = created and (
            self.chance({PENDING: 0.4, REVIEWING: 2, REVIEWED: 2}.get(st_trade, 1))
            or (self.waits() and roll >= 6)
        )
        if late:
            name = self.pick(["claim_deposit", "claim_refund", "claim_deposit"])
            now = self.draw_late()
        elif not created or roll < 18:
            name, now = self.next_move(), None
        else:
            name, now = self.pick([n for n in model.TRANSITIONS if n != "create_session"]), None
        if name in ("dispute_review", "dispute_claim") and now is None and self.chance(5):
            # a dispute in the last moment: the deadline itself must already be too late
            deadline = self.model.get("deadline")
            now = deadline if deadline is not None and deadline >= self.now else None
        sender, value, spec_args, model_args = getattr(self, f"args_{name}")()
        if self.chance(0.5) and name not in self.contract.PAYABLE:
            value = 1  # F_BC refuses it
        now = self.draw_now() if now is None else now
        self.call(name, sender, max(0, value), now, spec_args, model_args)

    def call(self, name, sender, value, now, spec_args, model_args) -> None:
        contract = self.contract
        # The encoding is session 0; now and then a call names a session that does
        # not exist, which the encoding rejects like every call before creation.
        sid = SID if name == "create_session" or self.chance(19.5) else self.pick([1, -1])
        sid_args = [] if name == "create_session" else [sid]
        self.log.append(
            f"{name}(sid={sid_args[0] if sid_args else '-'}, sender={sender}, value={value}, "
            f"now={now}, args={_short(spec_args)})"
        )
        before = copy.deepcopy(self.spec)
        msg = contract.Msg(sender=to_address(sender), value=value, now=now)
        try:
            self.chain.submit(msg.sender, value, name, *sid_args, *spec_args)
            self.chain.mempool.clear()
            contract.INTERFACES[name](self.spec, msg, *sid_args, *spec_args)
            spec_ok, reason = True, ""
        except AssertionError as error:
            self.spec, spec_ok, reason = before, False, str(error)
        except Exception as error:  # a crash is not a revert reason: report it
            raise Divergence(f"spec raised {type(error).__name__}: {error}") from error
        model_ok, payment = (
            self.model.apply(name, sender, value, now, *model_args) if sid == SID else (False, None)
        )
        if spec_ok != model_ok:
            raise Divergence(
                f"spec {'accepted' if spec_ok else 'rejected (' + reason + ')'}, "
                f"encoding {'accepted' if model_ok else 'rejected'}"
            )
        self.log[-1] += " -> ok" if spec_ok else f" -> {reason}"
        if spec_ok:
            self.now = now
            self.record(name, sender, spec_args)
            spec_pays = [(_from_address(to), a) for to, a in msg.transfers if a]
            model_pays = [payment] if payment else []
            if spec_pays != model_pays:
                raise Divergence(f"transfers: spec {spec_pays}, encoding {model_pays}")
            # A rejected call leaves both states (reverted) and the clock as they were.
            self.compare_states()

    def record(self, name: str, sender: int, spec_args: list) -> None:
        """What an accepted call gave the parties to hold."""
        if name == "sample_data":
            self.samples[_from_address(spec_args[0])] = list(spec_args[1])
        elif name == "set_candidate":
            self.review_key = spec_args[1]
        elif name == "submit_review":
            _, _, key_hashes, _, ephemeral, sealed = spec_args
            self.review = (ephemeral, list(sealed), list(key_hashes))
        elif name == "claim_reward":
            self.claim = tuple(spec_args)

    def compare_states(self) -> None:
        try:
            spec_view = project_spec(self.contract, self.spec, self.now)
        except Exception as error:  # a crash of the module under test is a divergence
            raise Divergence(f"spec getters raised {type(error).__name__}: {error}") from error
        model_view = self.view = project_model(self.model, self.now)
        if spec_view != model_view:
            diff = {
                k: (spec_view.get(k), model_view.get(k))
                for k in sorted(spec_view.keys() | model_view.keys())
                if spec_view.get(k) != model_view.get(k)
            }
            raise Divergence(f"post-state differs (spec, encoding): {diff}")


def _short(args) -> str:
    text = repr(args)
    return text if len(text) < 120 else text[:117] + "..."


_SESSION_FLAGS = ("review_submitted", "review_rejected", "claim_rejected", "refund_claimed")


def project_spec(contract: ModuleType, state, now: int) -> dict:
    if not state.sessions:
        return {"created": False}
    if len(state.sessions) != 1:
        return {"created": True, "sessions": len(state.sessions)}
    session = state.sessions[0]
    config = session.config
    view = {
        "created": True,
        "collector": _from_address(session.collector),
        **{f: getattr(config, f) for f in CONFIG_INTS},
        "adr_theta": _from_word(config.adr_theta),
        "st_trade": int(session.st_trade),
        "deadline": session.deadline,
        "candidate": _from_address(session.candidate),
        "optimal": _from_address(session.optimal),
        "review_key": _from_word(session.review_key),
        "delivery_digest": _from_word(session.delivery_digest),
        **{f: getattr(session, f) for f in _SESSION_FLAGS},
        "provider_count": session.provider_count,
        "get_escrow": contract.get_escrow(session),
        "get_final_deadline": contract.get_final_deadline(config),
        "get_sample_bound": contract.get_sample_bound(config),
        "get_compensation": contract.get_compensation(config),
        "get_forfeiter": _from_address(contract.get_forfeiter(session, now)),
        "get_refund": contract.get_refund(session, now),
        "is_settled": contract.is_settled(session, now),
        "is_deal": contract.is_deal(session),
        "is_compensated": contract.is_compensated(session),
    }
    for address, profile in session.profiles.items():
        p = _from_address(address)
        view[f"profile[{p}]"] = (
            _from_word(profile.adr_data_root),
            _from_word(profile.sample_digest),
            profile.sample_count,
            _from_word(profile.adr_feature),
            profile.deposit_claimed,
            contract.get_deposit_payout(session, address),
        )
    return view


@functools.cache
def get_model_view() -> model.Evaluation:
    """The encoding's fields and getters, over any state, at time ANY_CALL.now."""
    s, now = model.ANY_STATE, model.ANY_CALL.now
    terms = {
        "balance": s.balance,
        "get_escrow": model.get_escrow(s),
        "get_final_deadline": model.get_final_deadline(s),
        "get_forfeiter": model.get_forfeiter(s, now),
        "get_refund": model.get_refund(s, now),
        "is_settled": model.is_settled(s, now),
        "is_deal": model.is_deal(s),
        "is_compensated": model.is_compensated(s),
    }
    return model.Evaluation(
        terms | {f"payout[{p}]": model.get_deposit_payout(s, p) for p in ADDRESSES}
    )


def project_model(m: ConcreteModel, now: int) -> dict:
    if not m.get("created"):
        return {"created": False}
    getters = m.evaluate_all(get_model_view(), now)
    if getters["get_escrow"] != getters.pop("balance"):
        raise Divergence(f"encoding: balance {m.get('balance')} != escrow {getters['get_escrow']}")
    view = {
        "created": True,
        "collector": m.get("collector"),
        **{f: m.get(f) for f in CONFIG_INTS},
        "adr_theta": m.get("adr_theta"),
        **{
            f: m.get(f)
            for f in ("st_trade", "deadline", "candidate", "optimal", "review_key")
            + ("delivery_digest", *_SESSION_FLAGS, "provider_count")
        },
        "get_sample_bound": m.get("sample_bound"),
        "get_compensation": m.get("compensation"),
        **{name: value for name, value in getters.items() if not name.startswith("payout")},
    }
    for p in ADDRESSES:
        if m.profile("registered", p):
            view[f"profile[{p}]"] = (
                m.profile("adr_data_root", p),
                m.profile("sample_digest", p),
                m.profile("sample_count", p),
                m.profile("adr_feature", p),
                m.profile("deposit_claimed", p),
                getters[f"payout[{p}]"],
            )
    return view


def check_conformance(contract: ModuleType | None = None, *, examples: int = 200, steps: int = 40):
    """Run the schedules of seeds 0 .. examples-1, `steps` calls at most each; return
    (ok, detail, counts)."""
    if contract is None:
        from hyperx.spec import contract as default_contract

        contract = default_contract
    counter = dict.fromkeys(
        ("calls", "accepted", "rewards_paid", "refunded", "reviews_disputed")
        + ("claims_disputed", "valid_reviews_upheld", "valid_claims_upheld"),
        0,
    )
    for seed in range(examples):
        run = Schedule(contract, seed)
        try:
            for _ in range(steps):
                run.step()
                if run.is_finished():
                    break
        except Divergence as error:
            detail = f"{error}; schedule {seed}, after {len(run.log)} calls: "
            return False, detail + " | ".join(run.log[-6:]), counter
        finally:
            counter["calls"] += len(run.log)
            counter["accepted"] += sum(entry.endswith("-> ok") for entry in run.log)
            counter["valid_reviews_upheld"] += sum(
                e.endswith("sealed key is valid") for e in run.log
            )
            counter["valid_claims_upheld"] += sum(
                e.endswith("master key is valid") for e in run.log
            )
        if run.model.get("created"):
            counter["rewards_paid"] += run.model.get("reward_payouts")
            counter["refunded"] += bool(run.model.get("refund_claimed"))
            counter["reviews_disputed"] += bool(run.model.get("review_rejected"))
            counter["claims_disputed"] += bool(run.model.get("claim_rejected"))
    summary = (
        f"{examples} schedules, {counter['calls']} calls ({counter['accepted']} accepted), "
        f"{counter['rewards_paid']} rewards paid, {counter['refunded']} refunded; disputes: "
        f"{counter['reviews_disputed']} reviews and {counter['claims_disputed']} master keys "
        f"proven wrong, {counter['valid_reviews_upheld']} and {counter['valid_claims_upheld']} "
        "refused as valid: spec == encoding"
    )
    return True, summary, counter
