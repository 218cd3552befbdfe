"""Differential check: the Z3 encoding and the executable spec agree call by call.

Hypothesis draws schedules of calls on one session (mostly the honest next move,
often a perturbed one: a wrong caller, a bound off by one, a bad Merkle proof, a call
at exactly a deadline). Each call runs through the spec module under test
(`contract.INTERFACES`) and through `model.ConcreteModel`, which evaluates the
`tx_*` transitions on literals; the hash-dependent arguments of the encoding get their
meaning from `hyperx.spec.merkle`. After every call both must agree on: accepted or
rejected, every session and profile field, the transfer (payee and amount), and the
spec's getters (get_escrow, get_final_deadline, get_sample_bound, get_compensation,
get_forfeiter, get_refund). A rejected call is reverted (the state before it is
restored), as the EVM would. The module is a parameter, so `hyperx verify --mutants`
can hand in mutated copies of the spec and see this check fail.
"""

import copy
import functools
from types import ModuleType

from hyperx.spec import merkle
from hyperx.spec.config import BPS, MAX_PERIOD_S, MAX_SEALED_KEY_BYTES, ZERO_HASH

from . import model
from .model import CLOSED, PENDING, REVIEWED, REVIEWING, ConcreteModel

ADDRESSES = (1, 2, 3, 4, 5)  # 1 is the collector; 5 never registers honestly
COLLECTOR = 1


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


@functools.lru_cache(maxsize=64)
def get_dataset(
    owner: int, n_shards: int
) -> tuple[tuple[bytes, ...], tuple[tuple[bytes, ...], ...]]:
    """A provider's shard keys and the levels of their Merkle tree (leaves first)."""
    keys = tuple(owner.to_bytes(4, "big") + i.to_bytes(4, "big") for i in range(n_shards))
    depth = merkle.get_merkle_depth(n_shards)
    level = [merkle.compute_leaf(k) for k in keys] + [ZERO_HASH] * (2**depth - n_shards)
    levels = [tuple(level)]
    for _ in range(depth):
        level = [merkle.keccak256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
        levels.append(tuple(level))
    return keys, tuple(levels)


def get_proof(levels, index: int) -> list[bytes]:
    proof = []
    for level in levels[:-1]:
        proof.append(level[index ^ 1])
        index //= 2
    return proof


@functools.lru_cache(maxsize=64)
def get_chunk_proof(owner: int, n_shards: int, chunk_index: int) -> tuple[bytes, ...]:
    keys, _ = get_dataset(owner, n_shards)
    return tuple(merkle.compute_chunk_proof(keys, chunk_index))


class Schedule:
    """One drawn schedule: the spec's state and the encoding's, stepped together."""

    def __init__(self, contract: ModuleType, draw):
        self.contract = contract
        self.draw = draw
        self.spec = contract.MarketState()
        self.model = ConcreteModel(ADDRESSES)
        self.now = 1_000_000
        self.samples: dict[int, list[int]] = {}
        self.log: list[str] = []

    # Drawing

    def pick(self, options):
        """One of `options`, about evenly (sampled_from favours the first ones)."""
        from hypothesis import strategies as st

        options = list(options)
        return options[self.draw(st.integers(0, 2**20)) % len(options)]

    def chance(self, in_twenty: int) -> bool:
        """True with probability about in_twenty/20. Hypothesis draws the simplest
        value (0) more often than the rest, so 0 means the likelier outcome."""
        from hypothesis import strategies as st

        roll = self.draw(st.integers(0, 19))
        return roll < in_twenty if in_twenty >= 10 else roll >= 20 - in_twenty

    def perturb(self, *faults: str) -> str:
        """Mostly "none"; else one of `faults`, the way this call goes wrong."""
        return "none" if self.chance(12) else self.pick(faults)

    def draw_now(self) -> int:
        if self.chance(18) or not self.model.get("created"):
            return self.now + self.pick([0, 1])
        m = self.model
        final = m.evaluate(model.get_final_deadline(m.state))
        marks = [m.get("cf_evaluation_deadline"), m.get("deadline"), final]
        exact = [t for t in marks if t >= self.now]  # a call at exactly a deadline
        near = sorted({t + d for t in marks for d in (-1, 1) if t + d >= self.now})
        return self.pick(exact + exact + near) if exact or near else self.now

    def draw_late(self) -> int:
        """A time at or after the current deadline: somebody walked away."""
        m = self.model
        final = m.evaluate(model.get_final_deadline(m.state))
        marks = [m.get("deadline") - 1, m.get("deadline"), m.get("deadline") + 1, final, final + 1]
        return self.pick(sorted({t for t in marks if t >= self.now}) or [self.now])

    def draw_sender(self, honest: int) -> int:
        return honest if self.chance(14) else self.pick(ADDRESSES)

    # The honest next move, from the encoding's state

    def next_move(self) -> str:
        """What the state asks for next; now and then a party is early or late and
        makes a move of another phase (the guards must stop it)."""
        m = self.model
        if not m.get("created"):
            return "create_session"
        st_trade = m.get("st_trade")
        evaluation = ["registration", "sample_data", "submit_features"]
        if (st_trade == CLOSED or self.now >= m.get("deadline")) and self.chance(16):
            return "claim_deposit" if self.chance(14) else "claim_refund"
        if st_trade == PENDING and self.now < m.get("cf_evaluation_deadline"):
            registered = [p for p in (2, 3, 4) if m.profile("registered", p)]
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
            return self.pick(evaluation) if self.chance(4) else "set_candidate"
        if st_trade == REVIEWING:
            # One roll for the whole choice: Hypothesis tends to repeat a value it drew.
            roll = self.pick(range(20))
            if roll >= 16:
                return self.pick(
                    ["submit_features", "sample_data", "set_candidate", "claim_reward"]
                )
            if not m.get("review_submitted"):
                return "set_optimal" if roll >= 14 else "submit_review"
            return (
                ("submit_review" if roll % 2 else "claim_reward") if roll >= 11 else "set_optimal"
            )
        if st_trade == REVIEWED and self.chance(3):
            return self.pick(["set_optimal", "submit_review", "set_candidate"])
        if st_trade == REVIEWED:
            return "claim_reward"
        return self.pick(["claim_reward", "claim_refund", "set_optimal"])

    # Arguments: (sender, value, spec_args, model_args)

    def args_create_session(self):
        fields = {
            "cf_reward": 10**18,
            "cf_deposit": self.pick([10**17, 0, 3]),
            "cf_pct_bps": self.pick([2_500, 10_000, 5_000]),
            "cf_shards": self.pick([4, 8, 16, 2049]),
            "cf_evaluation_deadline": self.now + self.pick([100, MAX_PERIOD_S, 100, 12]),
            "cf_review_s": self.pick([50, 1, MAX_PERIOD_S]),
            "cf_claim_s": self.pick([60, 1, MAX_PERIOD_S]),
        }
        theta = b"\x11" * 32
        faults = [*fields, "theta_zero", "theta_short", "value", "smallest_pct"]
        roll = self.pick(range(2 * len(faults)))  # half the time a fault, each as likely
        bad = faults[roll - len(faults)] if roll >= len(faults) else "none"
        if bad in fields:
            fields[bad] = {
                "cf_reward": self.pick([0, 1]),
                "cf_deposit": 10**17,
                "cf_pct_bps": self.pick([0, BPS + 1, BPS, 1, 2_499]),
                "cf_shards": self.pick([0, 2**16 + 1, 2**16, 1, 3]),
                "cf_evaluation_deadline": self.pick(
                    [self.now, self.now + MAX_PERIOD_S + 1, self.now + 1]
                ),
                "cf_review_s": self.pick([0, MAX_PERIOD_S + 1]),
                "cf_claim_s": self.pick([0, MAX_PERIOD_S + 1]),
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
        new = [p for p in (2, 3, 4) if not m.profile("registered", p)]
        sender = new[0] if new and self.chance(17) else self.pick(ADDRESSES)
        n_shards = m.get("cf_shards")
        _, levels = get_dataset(sender, n_shards)
        root = levels[-1][0]
        value = m.get("cf_deposit")
        bad = self.perturb("value", "n_shards", "root_zero", "root_short")
        if bad == "value":
            value += 1
        elif bad == "n_shards":
            n_shards += self.pick([1, -1])
        elif bad == "root_zero":
            root = ZERO_HASH
        elif bad == "root_short":
            root = root[:31]
        return sender, value, [root, n_shards], [_from_word(root), len(root), n_shards]

    def args_sample_data(self):
        m = self.model
        unsampled = [
            p for p in (2, 3, 4) if m.profile("registered", p) and not m.profile("sample_count", p)
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
            p for p in (2, 3, 4) if m.profile("sample_count", p) and not m.profile("adr_feature", p)
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
        featured = [p for p in (2, 3, 4) if m.profile("adr_feature", p)]
        pid = self.pick(featured) if featured and self.chance(17) else self.pick((0, *ADDRESSES))
        return self.draw_sender(m.get("collector")), 0, [to_address(pid)], [pid]

    def args_submit_review(self):
        """The sender opens its own sample with its own keys (valid for the candidate,
        and for anyone else a well-formed review that only the guards can stop)."""
        m = self.model
        sender = self.draw_sender(m.get("candidate") or 2)
        n_shards = m.get("cf_shards")
        indices = list(self.samples.get(sender, [0]))
        bad = self.perturb("key", "indices", "lengths", "sealed_empty", "sealed_long")
        if bad == "indices":  # a validly opened set of shards, but not the sample
            indices = [i + 1 for i in indices] if indices[-1] + 1 < n_shards else indices[1:]
        keys, levels = get_dataset(sender, n_shards)
        leaf_keys = [keys[i] for i in indices]
        proofs = [get_proof(levels, i) for i in indices]
        # K_data sealed to the collector: 129 bytes, or a boundary length that is valid
        sealed = b"\x33" * (self.pick([1, MAX_SEALED_KEY_BYTES]) if self.chance(6) else 129)
        if bad == "key" and leaf_keys:
            leaf_keys[0] = b"forged"
        elif bad == "lengths":
            proofs = proofs[:-1]
        elif bad == "sealed_empty":
            sealed = b""
        elif bad == "sealed_long":
            sealed = b"\x33" * self.pick([MAX_SEALED_KEY_BYTES + 1, MAX_SEALED_KEY_BYTES])
        root = _to_word(m.profile("adr_data_root", sender))
        lengths_ok = len(leaf_keys) == len(indices) == len(proofs)
        proofs_ok = lengths_ok and all(
            merkle.is_valid_merkle_proof(k, i, pr, root, n_shards)
            for k, i, pr in zip(leaf_keys, indices, proofs, strict=True)
        )
        digest = _from_word(merkle.compute_sample_digest(indices))
        spec_args = [indices, leaf_keys, proofs, sealed]
        return sender, 0, spec_args, [digest, lengths_ok, proofs_ok, len(sealed)]

    def args_set_optimal(self):
        m = self.model
        pid = m.get("candidate") if self.chance(17) else self.pick((0, *ADDRESSES))
        return self.draw_sender(m.get("collector")), 0, [to_address(pid)], [pid]

    def args_claim_reward(self):
        m = self.model
        optimal = m.get("optimal")
        sender = self.draw_sender(optimal or 2)
        owner = optimal or sender
        n_shards = m.get("cf_shards")
        chunk_index = m.get("chunks_revealed") + (0 if self.chance(17) else self.pick([1, -1]))
        chunk_index = max(0, chunk_index)
        keys, _ = get_dataset(owner, n_shards)
        chunk = list(keys[chunk_index * merkle.CHUNK_SIZE : (chunk_index + 1) * merkle.CHUNK_SIZE])
        proof = list(get_chunk_proof(owner, n_shards, chunk_index)) if chunk else []
        if chunk and self.perturb("forged") == "forged":
            chunk[-1] = b"forged"
        root = _to_word(m.profile("adr_data_root", sender))
        chunk_opens = merkle.is_valid_chunk(chunk, chunk_index, proof, root, n_shards)
        return sender, 0, [chunk_index, chunk, proof], [chunk_index, chunk_opens]

    def args_claim_deposit(self):
        m = self.model
        waiting = [
            p
            for p in (2, 3, 4)
            if m.profile("registered", p) and not m.profile("deposit_claimed", p)
        ]
        sender = self.draw_sender(waiting[0] if waiting else 2)
        return sender, 0, [], []

    def args_claim_refund(self):
        return self.draw_sender(self.model.get("collector") or COLLECTOR), 0, [], []

    # Stepping

    def is_finished(self) -> bool:
        """Settled and emptied: no call can change anything any more."""
        m = self.model
        settled = m.get("st_trade") == CLOSED or self.now >= m.get("deadline")
        return m.get("created") and m.get("balance") == 0 and settled

    def step(self) -> None:
        roll = self.pick(range(20))
        created = self.model.get("created")
        # Somebody walks away, most often in the middle of a deal (where penalties and
        # compensation apply); the others pull after the deadline.
        in_deal = created and self.model.get("st_trade") in (REVIEWING, REVIEWED)
        if created and (roll == 19 or (in_deal and roll >= 16)):
            name = self.pick(["claim_deposit", "claim_refund", "claim_deposit"])
            now = self.draw_late()
        elif not created or roll < 16:
            name, now = self.next_move(), None
        else:
            name, now = self.pick([n for n in model.TRANSITIONS if n != "create_session"]), None
        sender, value, spec_args, model_args = getattr(self, f"args_{name}")()
        now = self.draw_now() if now is None else now
        self.call(name, sender, max(0, value), now, spec_args, model_args)

    def call(self, name, sender, value, now, spec_args, model_args) -> None:
        contract = self.contract
        # The encoding is session 0; now and then a call names a session that does
        # not exist, which the encoding rejects like every call before creation.
        sid = 0 if name == "create_session" or self.chance(19) else self.pick([1, -1])
        sid_args = [] if name == "create_session" else [sid]
        self.log.append(
            f"{name}(sid={sid_args[0] if sid_args else '-'}, sender={sender}, value={value}, "
            f"now={now}, args={_short(spec_args)})"
        )
        before = copy.deepcopy(self.spec)
        try:
            msg = contract.Msg(sender=to_address(sender), value=value, now=now)
            contract.INTERFACES[name](self.spec, msg, *sid_args, *spec_args)
            spec_ok, reason = True, ""
        except AssertionError as error:
            self.spec, spec_ok, reason = before, False, str(error)
        except Exception as error:  # a crash is not a revert reason: report it
            raise Divergence(f"spec raised {type(error).__name__}: {error}") from error
        model_ok, payment = (
            self.model.apply(name, sender, value, now, *model_args) if sid == 0 else (False, None)
        )
        if spec_ok != model_ok:
            raise Divergence(
                f"spec {'accepted' if spec_ok else 'rejected (' + reason + ')'}, "
                f"encoding {'accepted' if model_ok else 'rejected'}"
            )
        self.log[-1] += " -> ok" if spec_ok else f" -> {reason}"
        if spec_ok:
            self.now = now
            if name == "sample_data":
                self.samples[model_args[0]] = list(spec_args[1])
            spec_pays = [(_from_address(to), a) for to, a in msg.transfers if a]
            model_pays = [payment] if payment else []
            if spec_pays != model_pays:
                raise Divergence(f"transfers: spec {spec_pays}, encoding {model_pays}")
            # A rejected call leaves both states (reverted) and the clock as they were.
            self.compare_states()

    def compare_states(self) -> None:
        try:
            spec_view = project_spec(self.contract, self.spec, self.now)
        except Exception as error:  # a crash of the module under test is a divergence
            raise Divergence(f"spec getters raised {type(error).__name__}: {error}") from error
        model_view = project_model(self.model, self.now)
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
        **{f: getattr(config, f) for f in _CONFIG_INTS},
        "adr_theta": _from_word(config.adr_theta),
        "st_trade": int(session.st_trade),
        "deadline": session.deadline,
        "candidate": _from_address(session.candidate),
        "optimal": _from_address(session.optimal),
        "review_submitted": session.review_submitted,
        "chunks_revealed": session.chunks_revealed,
        "refund_claimed": session.refund_claimed,
        "provider_count": session.provider_count,
        "get_escrow": contract.get_escrow(session),
        "get_final_deadline": contract.get_final_deadline(config),
        "get_sample_bound": contract.get_sample_bound(config),
        "get_compensation": contract.get_compensation(config),
        "get_forfeiter": _from_address(contract.get_forfeiter(session, now)),
        "get_refund": contract.get_refund(session, now),
    }
    for address, profile in session.profiles.items():
        p = _from_address(address)
        view[f"profile[{p}]"] = (
            _from_word(profile.adr_data_root),
            _from_word(profile.sample_digest),
            profile.sample_count,
            _from_word(profile.adr_feature),
            profile.deposit_claimed,
        )
    return view


_CONFIG_INTS = (
    "cf_reward",
    "cf_deposit",
    "cf_pct_bps",
    "cf_shards",
    "cf_evaluation_deadline",
    "cf_review_s",
    "cf_claim_s",
)


def project_model(m: ConcreteModel, now: int) -> dict:
    if not m.get("created"):
        return {"created": False}
    s = m.state
    escrow = m.evaluate(model.get_escrow(s))
    if escrow != m.get("balance"):
        raise Divergence(f"encoding: balance {m.get('balance')} != escrow {escrow}")
    view = {
        "created": True,
        "collector": m.get("collector"),
        **{f: m.get(f) for f in _CONFIG_INTS},
        "adr_theta": m.get("adr_theta"),
        **{
            f: m.get(f)
            for f in (
                "st_trade",
                "deadline",
                "candidate",
                "optimal",
                "review_submitted",
                "chunks_revealed",
                "refund_claimed",
                "provider_count",
            )
        },
        "get_escrow": escrow,
        "get_final_deadline": m.evaluate(model.get_final_deadline(s)),
        "get_sample_bound": m.get("sample_bound"),
        "get_compensation": m.get("compensation"),
        "get_forfeiter": m.evaluate(model.get_forfeiter(s, now)),
        "get_refund": m.evaluate(model.get_refund(s, now)),
    }
    for p in ADDRESSES:
        if m.profile("registered", p):
            view[f"profile[{p}]"] = (
                m.profile("adr_data_root", p),
                m.profile("sample_digest", p),
                m.profile("sample_count", p),
                m.profile("adr_feature", p),
                m.profile("deposit_claimed", p),
            )
    return view


def check_conformance(contract: ModuleType | None = None, *, examples: int = 200, steps: int = 40):
    """Run `examples` schedules of `steps` calls; return (ok, detail, calls made)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    if contract is None:
        from hyperx.spec import contract as default_contract

        contract = default_contract
    counter = {"calls": 0, "accepted": 0, "closed": 0, "refunded": 0}
    failure: dict = {}

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(st.data())
    def schedule(data):
        run = Schedule(contract, data.draw)
        try:
            for _ in range(steps):
                run.step()
                if run.is_finished():
                    break
        except Divergence as error:
            failure["detail"] = f"{error}; after {len(run.log)} calls: " + " | ".join(run.log[-6:])
            raise
        finally:
            counter["calls"] += len(run.log)
            counter["accepted"] += sum(entry.endswith("-> ok") for entry in run.log)
            if run.model.get("created"):
                counter["closed"] += run.model.get("st_trade") == CLOSED
                counter["refunded"] += bool(run.model.get("refund_claimed"))

    try:
        schedule()
    except Divergence:
        return False, failure.get("detail", "divergence"), counter
    summary = (
        f"{examples} schedules, {counter['calls']} calls ({counter['accepted']} accepted), "
        f"{counter['closed']} sessions closed, {counter['refunded']} refunded: spec == encoding"
    )
    return True, summary, counter
