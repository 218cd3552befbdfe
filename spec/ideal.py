"""F_HyperX: the ideal functionality of Figure 9, executable.

A trusted party holds every provider's dataset, evaluates it with the collector's
method, closes the deal and moves the money. Honest parties hand it their inputs;
the moves of corrupted parties reach it from the adversary (the simulator,
`hyperx.spec.simulator`), which also schedules delivery: each move carries the
time at which the real world made it, so that the functionality can enforce the
same deadlines as Prot_SC.

It decides by itself, from its own rules, everything an honest party decides: the
sample bound, which provider an honest collector must pick, whether a review or a
master key is good, and who is paid what. Nothing here comes from the real parties'
code (`hyperx.spec.parties`): a real collector that picks another provider, or a
contract that lets a wrong party move, shows up as a move F_HyperX refuses.

The interfaces, and how they extend Figure 9:
- `session_create` (SessionCreate, lines 2-10): the reward is escrowed.
- `provider_participate` (ProviderParticipate, lines 11-19): the deposit is
  escrowed. Evaluation uses the collector's sample (`sample`: at most
  cf_shards * CF_% shards, once) and the functionality's own features of exactly
  those shards (`submit_features`); a corrupted provider's features are what the
  adversary sealed under its own name, or none (a copy of another's).
- `end_evaluation` + `set_candidate` (DealClose, lines 20-32): an honest collector
  picks the best score at or above its threshold (ties to the lowest address)
  among providers whose whole dataset is available (the adversary says whether
  its own is); a corrupted collector picks any provider with features. Then the
  review: an honest candidate discloses its sample; a corrupted one's disclosure
  is good or not (the adversary's say: keys that open to their commitments); an
  honest collector disputes a bad disclosure, promotes a good one whose sample
  reproduces the features, and otherwise lets the review stand unanswered; an
  honest optimal provider delivers its dataset; a corrupted one's key is good or
  not, and an honest collector disputes a bad one.
- `finish` (DepositClaim, lines 33-36) settles every session: a delivered key that
  stood -> cf_reward to P_opt; a review that stood unanswered -> CF_% * cf_reward to
  the candidate (post-review abortion); a candidate that did not review or whose
  review was disputed, and an optimal provider that did not deliver or whose key
  was disputed, forfeits its deposit to the collector; every other deposit and the
  rest of the reward go back. Honest parties are live: a move an honest party must
  make is made (the liveness assumption of the refinement suite).

Leakage to the collector, exactly: features of sampled shards (to the collector
only), the candidate's sampled plaintext once it discloses it, and the optimal
provider's whole dataset once it delivers. `leaks` records the plaintext shards.
A corrupted provider's dataset may hold junk entries (None): shards it committed as
ciphertext that its committed key does not open. They leak nothing, and a sample
that holds one reproduces no features (the residual of `hyperx.spec.contract`: a
shard outside the sample may be junk, and nothing on chain can show it).

A move the functionality cannot accept raises `SimulationError`: the real world
did something no ideal-world adversary can, so the refinement fails.
"""

from dataclasses import dataclass, field

from .config import BPS, MAX_SAMPLE
from .contract import Address

PENDING, REVIEWING, REVIEWED, CLOSED = "pending", "reviewing", "reviewed", "closed"

NO_DEAL = "no_deal"
DEAL_CLOSED = "closed"
ABORTED_AFTER_REVIEW = "aborted_after_review"
CANDIDATE_FORFEITED = "candidate_forfeited"
REVIEW_REJECTED = "review_rejected"
OPTIMAL_FORFEITED = "optimal_forfeited"
CLAIM_REJECTED = "claim_rejected"


class SimulationError(AssertionError):
    """The real world made a move that F_HyperX cannot reproduce."""


def require(condition: bool, reason: str) -> None:
    if not condition:
        raise SimulationError(reason)


@dataclass
class IdealProvider:
    dataset: list[bytes] | None  # None: a corrupted provider that committed no data
    registered_at: int
    sample: list[int] | None = None
    features: bytes | None = None  # what the collector holds
    score: int | None = None
    has_features: bool = False


@dataclass
class IdealSession:
    sid: int
    collector: Address
    config: dict
    threshold: int | None  # None: a session the adversary created
    extractor_blob: bytes | None
    providers: dict[Address, IdealProvider] = field(default_factory=dict)
    phase: str = PENDING
    deadline: int = 0
    evaluated: bool = False  # EndEvaluation ran
    chosen: Address | None = None  # the honest collector's choice, until delivered
    candidate: Address | None = None
    optimal: Address | None = None
    reviewed: bool = False
    review_good: bool = False  # the disclosed keys open to the commitment
    review_valid: bool = False  # ... and the sample reproduces the features
    review_rejected: bool = False
    master_good: bool = False
    claim_rejected: bool = False
    outcome: str | None = None


@dataclass
class Settlement:
    outcome: str
    candidate: Address | None
    optimal: Address | None
    payouts: dict[Address, int]  # what each party is owed by the session


class FHyperX:
    def __init__(self, extractor, evaluator, balances: dict[Address, int], evaluation_slack_s: int):
        self.extractor = extractor
        self.evaluator = evaluator
        self.balances = dict(balances)  # honest parties' money, as F_HyperX moves it
        self.evaluation_slack_s = evaluation_slack_s
        self.corrupted: set[Address] = set()
        self.sessions: dict[int, IdealSession] = {}
        self.leaks: set[tuple[int, Address, int]] = set()  # (sid, pid, index) to P_col
        self.settlements: dict[int, Settlement] = {}

    def is_honest(self, party: Address) -> bool:
        return party not in self.corrupted

    def corrupt(self, party: Address) -> None:
        self.corrupted.add(party)

    def _session(self, sid: int) -> IdealSession:
        require(sid in self.sessions, f"no ideal session {sid}")
        return self.sessions[sid]

    def _true_features(self, session: IdealSession, provider: IdealProvider) -> bytes | None:
        if provider.dataset is None or session.extractor_blob is None:
            return None
        sample = [provider.dataset[i] for i in provider.sample]
        return None if None in sample else self.extractor(session.extractor_blob, sample)

    def _leak(self, session: IdealSession, pid: Address, indices) -> None:
        dataset = session.providers[pid].dataset
        self.leaks.update((session.sid, pid, i) for i in indices if dataset[i] is not None)

    # SessionCreate

    def session_create(
        self,
        sid: int,
        collector: Address,
        config: dict,
        threshold: int | None,
        extractor_blob: bytes | None,
    ) -> None:
        require(sid not in self.sessions, f"session {sid} created twice")
        require(
            self.is_honest(collector) is False or threshold is not None,
            f"session {sid}: an honest collector created a session it was not asked for",
        )
        self.balances[collector] = self.balances.get(collector, 0) - config["cf_reward"]
        self.sessions[sid] = IdealSession(
            sid,
            collector,
            dict(config),
            threshold,
            extractor_blob,
            deadline=config["cf_evaluation_deadline"] + config["cf_review_s"],
        )

    # ProviderParticipate and the evaluation

    def provider_participate(
        self, sid: int, pid: Address, dataset: list[bytes] | None, now: int
    ) -> None:
        session = self._session(sid)
        require(session.phase == PENDING, f"session {sid}: registration after evaluation")
        require(now < session.config["cf_evaluation_deadline"], f"session {sid}: late registration")
        require(pid not in session.providers, f"session {sid}: {pid} registered twice")
        require(
            dataset is None or len(dataset) == session.config["cf_shards"],
            f"session {sid}: wrong shard count",
        )
        self.balances[pid] = self.balances.get(pid, 0) - session.config["cf_deposit"]
        session.providers[pid] = IdealProvider(dataset, now)

    def sample(self, sid: int, caller: Address, pid: Address, indices: list[int], now: int) -> None:
        session = self._session(sid)
        require(caller == session.collector, f"session {sid}: {caller} sampled, not the collector")
        require(session.phase == PENDING, f"session {sid}: sample after evaluation")
        require(now < session.config["cf_evaluation_deadline"], f"session {sid}: late sample")
        require(pid in session.providers, f"session {sid}: sample of an unregistered provider")
        provider = session.providers[pid]
        require(provider.sample is None, f"session {sid}: {pid} sampled twice")
        shards = session.config["cf_shards"]
        bound = shards * session.config["cf_pct_bps"] // BPS
        bound = MAX_SAMPLE if bound > MAX_SAMPLE else bound
        require(0 < len(indices) <= bound, f"session {sid}: sample of {len(indices)} > {bound}")
        require(
            all(0 <= i < shards for i in indices)
            and all(indices[k] < indices[k + 1] for k in range(len(indices) - 1)),
            f"session {sid}: sample indices not distinct ascending shard positions",
        )
        provider.sample = list(indices)

    def submit_features(self, sid: int, pid: Address, features: bytes | None, now: int) -> None:
        """The provider's features reach the collector. Honest: the functionality's
        own features of the sample; corrupted: what the adversary sealed, if anything."""
        session = self._session(sid)
        require(pid in session.providers, f"session {sid}: features of an unregistered provider")
        provider = session.providers[pid]
        require(session.phase == PENDING, f"session {sid}: features after evaluation")
        require(now < session.config["cf_evaluation_deadline"], f"session {sid}: late features")
        require(provider.sample is not None, f"session {sid}: features before the sample")
        require(not provider.has_features, f"session {sid}: {pid} submitted features twice")
        provider.has_features = True
        if self.is_honest(pid):
            features = self._true_features(session, provider)
        provider.features = features
        provider.score = None if features is None else self.evaluator(features)

    # DealClose

    def end_evaluation(self, sid: int, now: int, available: set[Address]) -> None:
        """The honest collector's EndEvaluation: choose the candidate, the best score
        at or above the threshold among providers whose dataset is all available
        (`available`: the adversary's say for its own; honest datasets always are)."""
        session = self._session(sid)
        if session.evaluated or not self.is_honest(session.collector) or session.threshold is None:
            return
        session.evaluated = True
        best = None
        for pid, provider in session.providers.items():
            in_time = provider.registered_at + self.evaluation_slack_s
            require(
                not self.is_honest(pid)
                or in_time > session.config["cf_evaluation_deadline"]
                or provider.score is not None,
                f"session {sid}: honest {pid} registered in time but was not evaluated",
            )
            eligible = (
                provider.score is not None
                and provider.score >= session.threshold
                and (self.is_honest(pid) or pid in available)
            )
            if eligible and (
                best is None
                or provider.score > session.providers[best].score
                or (provider.score == session.providers[best].score and pid < best)
            ):
                best = pid
        session.chosen = best

    def set_candidate(self, sid: int, caller: Address, pid: Address, now: int) -> None:
        session = self._session(sid)
        require(caller == session.collector, f"session {sid}: {caller} set the candidate")
        require(session.phase == PENDING, f"session {sid}: second candidate")
        require(now < session.deadline, f"session {sid}: candidate after the deadline")
        require(
            pid in session.providers and session.providers[pid].has_features,
            f"session {sid}: candidate {pid} has no features",
        )
        if self.is_honest(session.collector):
            require(session.evaluated, f"session {sid}: candidate before EndEvaluation")
            require(pid == session.chosen, f"session {sid}: candidate {pid}, best {session.chosen}")
        session.phase, session.candidate = REVIEWING, pid
        session.deadline = now + session.config["cf_review_s"]

    def submit_review(self, sid: int, pid: Address, now: int, keys_good: bool = True) -> None:
        """The candidate discloses its sample; `keys_good`: every sealed key opens to
        its committed hash (the adversary's say for a corrupted candidate)."""
        session = self._session(sid)
        require(pid == session.candidate, f"session {sid}: review by {pid}, not the candidate")
        require(session.phase == REVIEWING and not session.reviewed, f"session {sid}: late review")
        require(now < session.deadline, f"session {sid}: review after the deadline")
        self._review(session, keys_good or self.is_honest(pid))
        session.deadline = now + session.config["cf_review_s"]

    def _review(self, session: IdealSession, keys_good: bool) -> None:
        provider = session.providers[session.candidate]
        session.reviewed, session.review_good = True, keys_good
        if keys_good and provider.dataset is not None:
            self._leak(session, session.candidate, provider.sample)
        true_features = self._true_features(session, provider)
        session.review_valid = (
            keys_good and true_features is not None and provider.features == true_features
        )

    def dispute_review(self, sid: int, caller: Address, now: int) -> None:
        session = self._session(sid)
        require(caller == session.collector, f"session {sid}: {caller} disputed the review")
        require(
            session.phase == REVIEWING and session.reviewed and not session.review_rejected,
            f"session {sid}: dispute without a review",
        )
        require(now < session.deadline, f"session {sid}: dispute after the deadline")
        require(not session.review_good, f"session {sid}: a good review was proven wrong")
        session.review_rejected, session.deadline = True, now

    def set_optimal(self, sid: int, caller: Address, pid: Address, now: int) -> None:
        session = self._session(sid)
        require(caller == session.collector, f"session {sid}: {caller} set the optimal provider")
        require(session.phase == REVIEWING, f"session {sid}: promotion outside review")
        require(session.reviewed, f"session {sid}: promotion before the review")
        require(now < session.deadline, f"session {sid}: promotion after the deadline")
        require(pid == session.candidate, f"session {sid}: promoted {pid}, not the candidate")
        if self.is_honest(caller):
            require(session.review_valid, f"session {sid}: honest collector promoted a bad review")
        session.phase, session.optimal = REVIEWED, pid
        session.deadline = now + session.config["cf_claim_s"]

    def claim_reward(self, sid: int, pid: Address, now: int, master_good: bool = True) -> None:
        """P_opt delivers its dataset; `master_good`: the key it sealed gives every
        committed shard key (the adversary's say for a corrupted P_opt)."""
        session = self._session(sid)
        require(pid == session.optimal, f"session {sid}: {pid} claimed, not P_opt")
        require(session.phase == REVIEWED, f"session {sid}: claim outside reviewed")
        require(now < session.deadline, f"session {sid}: claim after the deadline")
        self._deliver(session, master_good or self.is_honest(pid))
        session.deadline = now + session.config["cf_review_s"]

    def _deliver(self, session: IdealSession, master_good: bool) -> None:
        session.phase, session.master_good = CLOSED, master_good
        dataset = session.providers[session.optimal].dataset
        if master_good and dataset is not None:
            self._leak(session, session.optimal, range(len(dataset)))

    def dispute_claim(self, sid: int, caller: Address, now: int) -> None:
        session = self._session(sid)
        require(caller == session.collector, f"session {sid}: {caller} disputed the claim")
        require(
            session.phase == CLOSED and not session.claim_rejected,
            f"session {sid}: dispute without a claim",
        )
        require(now < session.deadline, f"session {sid}: dispute after the window")
        require(not session.master_good, f"session {sid}: a good master key was proven wrong")
        session.claim_rejected, session.deadline = True, now

    # DepositClaim: settle every session

    def _complete_honest_moves(self, session: IdealSession) -> None:
        """Liveness: what honest parties must have done, done."""
        collector_honest = self.is_honest(session.collector)
        if session.phase == PENDING and not session.evaluated:
            self.end_evaluation(session.sid, session.config["cf_evaluation_deadline"], set())
        if session.phase == PENDING and collector_honest and session.chosen:
            session.phase, session.candidate = REVIEWING, session.chosen
        if (
            session.phase == REVIEWING
            and not session.reviewed
            and self.is_honest(session.candidate)
        ):
            self._review(session, True)
        if session.phase == REVIEWING and session.reviewed and collector_honest:
            if not session.review_good:
                session.review_rejected = True
            elif session.review_valid:
                session.phase, session.optimal = REVIEWED, session.candidate
        if session.phase == REVIEWED and self.is_honest(session.optimal):
            self._deliver(session, True)
        if session.phase == CLOSED and collector_honest and not session.master_good:
            session.claim_rejected = True

    def settle(self, session: IdealSession) -> Settlement:
        config = session.config
        payouts = {pid: config["cf_deposit"] for pid in session.providers}
        refund = config["cf_reward"]
        forfeiter = None
        if session.phase == CLOSED and not session.claim_rejected:
            outcome, refund = DEAL_CLOSED, 0
            payouts[session.optimal] += config["cf_reward"]
        elif session.phase == CLOSED:
            outcome, forfeiter = CLAIM_REJECTED, session.optimal
        elif session.phase == REVIEWED:
            outcome, forfeiter = OPTIMAL_FORFEITED, session.optimal
        elif session.phase == REVIEWING and session.review_rejected:
            outcome, forfeiter = REVIEW_REJECTED, session.candidate
        elif session.phase == REVIEWING and session.reviewed:
            outcome = ABORTED_AFTER_REVIEW
            compensation = config["cf_reward"] * config["cf_pct_bps"] // BPS
            payouts[session.candidate] += compensation
            refund -= compensation
        elif session.phase == REVIEWING:
            outcome, forfeiter = CANDIDATE_FORFEITED, session.candidate
        else:
            outcome = NO_DEAL
        if forfeiter is not None:
            payouts[forfeiter] -= config["cf_deposit"]
            refund += config["cf_deposit"]
        if refund:
            payouts[session.collector] = payouts.get(session.collector, 0) + refund
        return Settlement(outcome, session.candidate, session.optimal, payouts)

    def finish(self) -> dict[int, Settlement]:
        """After every deadline: complete honest moves, settle, pay honest parties."""
        for sid, session in self.sessions.items():
            if sid in self.settlements:
                continue
            self._complete_honest_moves(session)
            settlement = self.settle(session)
            self.settlements[sid] = settlement
            for party, amount in settlement.payouts.items():
                if self.is_honest(party):
                    self.balances[party] = self.balances.get(party, 0) + amount
        return self.settlements
