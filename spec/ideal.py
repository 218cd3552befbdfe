"""F_HyperX: the ideal functionality of Figure 9, executable.

A trusted party holds every provider's dataset, evaluates it with the collector's
method, closes the deal and moves the money. Honest parties hand it their inputs;
the moves of corrupted parties reach it from the adversary (the simulator,
`hyperx.spec.simulator`), which also schedules delivery: each move carries the
time at which the real world made it, so that the functionality can enforce the
same deadlines as Prot_SC.

The interfaces, and how they extend Figure 9:
- `session_create` (SessionCreate, lines 2-10): the reward is escrowed.
- `provider_participate` (ProviderParticipate, lines 11-19): the deposit is
  escrowed. Evaluation uses the collector's sample (`sample`: the collector's
  randomness, at most cf_shards * CF_% shards, once) and the functionality's own
  features of exactly those shards (`submit_features`): it has the whole dataset
  but does not use it, for parity with the real protocol (paper 6.1.1).
- `end_evaluation` + `set_candidate` (DealClose, lines 20-32): an honest collector
  picks the best score at or above its threshold (ties to the lowest address); a
  corrupted one picks any provider with features. Then the review: an honest
  candidate discloses its sample; an honest collector promotes iff the disclosed
  sample reproduces the features; an honest optimal provider is paid and
  discloses its whole dataset.
- `finish` (DepositClaim, lines 33-36) settles every session with the policy of
  `hyperx.spec.contract`: closed -> cf_reward to P_opt; the candidate reviewed and
  the collector did not promote -> cf_pct * cf_reward to the candidate
  (post-review abortion); a candidate that did not review, or an optimal provider
  that did not claim, forfeits its deposit to the collector; every other deposit
  and the rest of the reward go back. Honest parties are live: a move an honest
  party must make is made (the liveness assumption of the refinement suite).

Leakage to the collector, exactly: features of sampled shards (to the collector
only), the candidate's sampled plaintext once it reviews, and the optimal
provider's whole dataset on close. `leaks` records the plaintext shards.

A move the functionality cannot accept raises `SimulationError`: the real world
did something no ideal-world adversary can, so the refinement fails.
"""

from dataclasses import dataclass, field

from .config import BPS
from .contract import Address
from .parties import (
    CLOSED,
    PENDING,
    REVIEWED,
    REVIEWING,
    Evaluator,
    Extractor,
    compute_best_provider,
    compute_sample_size,
)

NO_DEAL = "no_deal"
DEAL_CLOSED = "closed"
ABORTED_AFTER_REVIEW = "aborted_after_review"
CANDIDATE_FORFEITED = "candidate_forfeited"
OPTIMAL_FORFEITED = "optimal_forfeited"


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
    review_valid: bool = False
    outcome: str | None = None


@dataclass
class Settlement:
    outcome: str
    candidate: Address | None
    optimal: Address | None
    payouts: dict[Address, int]  # what each party is owed by the session


class FHyperX:
    def __init__(
        self,
        extractor: Extractor,
        evaluator: Evaluator,
        balances: dict[Address, int],
        evaluation_slack_s: int,
    ):
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
        return self.extractor(
            session.extractor_blob, [provider.dataset[i] for i in provider.sample]
        )

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
        bound = compute_sample_size(session.config["cf_shards"], session.config["cf_pct_bps"])
        require(0 < len(indices) <= bound, f"session {sid}: sample of {len(indices)} > {bound}")
        require(
            all(0 <= i < session.config["cf_shards"] for i in indices)
            and list(indices) == sorted(set(indices)),
            f"session {sid}: sample indices not distinct shard positions",
        )
        provider.sample = list(indices)

    def submit_features(self, sid: int, pid: Address, features: bytes | None, now: int) -> None:
        """The provider's features reach the collector. Honest: the functionality's
        own features of the sample; corrupted: whatever the adversary stored."""
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

    def end_evaluation(self, sid: int, now: int) -> None:
        """The honest collector's EndEvaluation: choose the candidate."""
        session = self._session(sid)
        if session.evaluated or not self.is_honest(session.collector) or session.threshold is None:
            return
        session.evaluated = True
        for pid, provider in session.providers.items():
            in_time = provider.registered_at + self.evaluation_slack_s
            require(
                not self.is_honest(pid)
                or in_time > session.config["cf_evaluation_deadline"]
                or provider.score is not None,
                f"session {sid}: honest {pid} registered in time but was not evaluated",
            )
        scores = {pid: p.score for pid, p in session.providers.items() if p.score is not None}
        session.chosen = compute_best_provider(scores, session.threshold)

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

    def submit_review(
        self, sid: int, pid: Address, now: int, discloses: bool = True, key_ok: bool = True
    ) -> None:
        """The candidate discloses its sample; `discloses`: the revealed keys are its
        committed ones; `key_ok`: K_data was sealed faithfully (the adversary's say)."""
        session = self._session(sid)
        require(pid == session.candidate, f"session {sid}: review by {pid}, not the candidate")
        require(session.phase == REVIEWING and not session.reviewed, f"session {sid}: late review")
        require(now < session.deadline, f"session {sid}: review after the deadline")
        require(discloses, f"session {sid}: a review without the committed keys")
        self._review(session, key_ok if not self.is_honest(pid) else True)
        session.deadline = now + session.config["cf_review_s"]

    def _review(self, session: IdealSession, key_ok: bool) -> None:
        provider = session.providers[session.candidate]
        session.reviewed = True
        if key_ok and provider.dataset is not None:
            self.leaks.update((session.sid, session.candidate, i) for i in provider.sample)
        true_features = self._true_features(session, provider)
        session.review_valid = (
            key_ok and true_features is not None and provider.features == true_features
        )

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

    def claim_reward(self, sid: int, pid: Address, now: int) -> None:
        session = self._session(sid)
        require(pid == session.optimal, f"session {sid}: {pid} claimed, not P_opt")
        require(session.phase == REVIEWED, f"session {sid}: claim outside reviewed")
        require(now < session.deadline, f"session {sid}: claim after the deadline")
        self._close(session)

    def _close(self, session: IdealSession) -> None:
        session.phase = CLOSED
        dataset = session.providers[session.optimal].dataset
        if dataset is not None:
            self.leaks.update((session.sid, session.optimal, i) for i in range(len(dataset)))

    # DepositClaim: settle every session

    def _complete_honest_moves(self, session: IdealSession) -> None:
        """Liveness: what honest parties must have done, done."""
        if session.phase == PENDING and not session.evaluated:
            self.end_evaluation(session.sid, session.config["cf_evaluation_deadline"])
        if session.phase == PENDING and self.is_honest(session.collector) and session.chosen:
            session.phase, session.candidate = REVIEWING, session.chosen
        if (
            session.phase == REVIEWING
            and not session.reviewed
            and self.is_honest(session.candidate)
        ):
            self._review(session, True)
        if (
            session.phase == REVIEWING
            and session.reviewed
            and session.review_valid
            and self.is_honest(session.collector)
        ):
            session.phase, session.optimal = REVIEWED, session.candidate
        if session.phase == REVIEWED and self.is_honest(session.optimal):
            self._close(session)

    def settle(self, session: IdealSession) -> Settlement:
        config = session.config
        payouts = {pid: config["cf_deposit"] for pid in session.providers}
        refund = config["cf_reward"]
        if session.phase == CLOSED:
            outcome, refund = DEAL_CLOSED, 0
            payouts[session.optimal] += config["cf_reward"]
        elif session.phase == REVIEWING and session.reviewed:
            outcome = ABORTED_AFTER_REVIEW
            compensation = config["cf_reward"] * config["cf_pct_bps"] // BPS
            payouts[session.candidate] += compensation
            refund -= compensation
        elif session.phase in (REVIEWING, REVIEWED):
            outcome = CANDIDATE_FORFEITED if session.phase == REVIEWING else OPTIMAL_FORFEITED
            forfeiter = session.candidate if session.phase == REVIEWING else session.optimal
            payouts[forfeiter] -= config["cf_deposit"]
            refund += config["cf_deposit"]
        else:
            outcome = NO_DEAL
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
