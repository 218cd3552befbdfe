"""The simulator S of paper 6.1.4: it watches the real world's public side effects
and replays them into F_HyperX, so that one environment drives both worlds.

What S sees, and only that: the finalized blocks of F_BC (every successful call,
its sender and block time), F_DS (public, content addressed), the honest parties'
inputs as the environment gives them (the collector's task, a provider's dataset:
the dummy parties of the ideal protocol forward these to F_HyperX), and the
internals of corrupted parties (they are the adversary's): what data a corrupted
provider committed, what features it sealed under its own name, and whether the
keys it sealed in a review or a claim are the committed ones.

Each final event becomes one call of F_HyperX, with the block time, in block
order; a block stamped at or after a session's cf_evaluation_deadline also
triggers the honest collector's EndEvaluation (as the real collector's timer),
with the adversary's say on which of its providers' datasets are all on F_DS.
Money pulls (ClaimDeposit, ClaimRefund) need no call: F_HyperX settles in
`finish`. S decides nothing about outcomes; if the real world moves in a way
F_HyperX refuses, F_HyperX raises SimulationError and the refinement fails.
"""

from dataclasses import dataclass, field

from .chain import Blockchain, Receipt
from .contract import Address, Event
from .datastore import Datastore
from .ideal import FHyperX, require
from .merkle import (
    compute_claim_digest,
    compute_leaf,
    compute_merkle_root,
    compute_review_digest,
)
from .parties import Task, decode_manifest


@dataclass
class Simulator:
    ideal: FHyperX
    tasks: dict[bytes, Task] = field(default_factory=dict)  # adr_theta -> the collector's input
    datasets: dict[tuple[int, Address], list[bytes]] = field(default_factory=dict)
    corrupt_datasets: dict = field(default_factory=dict)  # (sid, pid) -> plaintexts
    corrupt_features: dict = field(default_factory=dict)  # (sid, pid, adr_feature) -> features
    deliveries: dict = field(default_factory=dict)  # (sid, digest) -> its sealed keys are good
    roots: dict = field(default_factory=dict)  # (sid, pid) -> (adr_data_root, adr_manifest)
    joined: dict = field(default_factory=dict)  # (sid, pid) -> when it was asked to join
    final_seen: int = 0

    # Inputs of honest parties, as the dummy parties forward them

    def on_task(self, adr_theta: bytes, task: Task) -> None:
        self.tasks[adr_theta] = task

    def on_join(self, sid: int, pid: Address, dataset: list[bytes], now: int = 0) -> None:
        """An honest provider is asked to join: F_HyperX takes its dataset, and it
        must be registered if it was asked in time (`joined`, checked at the end of
        the evaluation)."""
        self.datasets.setdefault((sid, pid), list(dataset))
        self.joined.setdefault((sid, pid), now)

    def on_corrupt(self, party: Address) -> None:
        self.ideal.corrupt(party)

    # The adversary's own moves

    def on_adversary_holding(self, sid: int, pid: Address, dataset) -> None:
        self.corrupt_datasets[(sid, pid)] = list(dataset)

    def on_adversary_features(self, sid: int, pid: Address, adr_feature: bytes, features) -> None:
        self.corrupt_features[(sid, pid, adr_feature)] = features

    def on_delivery(self, sid: int, digest: bytes, keys_good: bool) -> None:
        """A review or a claim as it was built (by an honest party: good; by the
        adversary: its say), named by the digest the contract keeps of it, so that a
        copy or a replay is known too: the first word on a digest is its builder's,
        and a copy (the same bytes, sent by another) does not change it."""
        self.deliveries.setdefault((sid, digest), keys_good)

    # Observing the real world

    def is_available(self, datastore: Datastore, sid: int, pid: Address) -> bool:
        """Is the whole dataset `pid` committed on F_DS, as its manifest names it?"""
        if (sid, pid) not in self.roots:
            return False
        root, adr_manifest = self.roots[(sid, pid)]
        if not datastore.has(adr_manifest):
            return False
        manifest = decode_manifest(datastore.get(adr_manifest))
        return (
            manifest is not None
            and len(manifest) == self.ideal.sessions[sid].config["cf_shards"]
            and compute_merkle_root([compute_leaf(c, h) for c, h in manifest]) == root
            and all(datastore.has(cid) for cid, _ in manifest)
        )

    def observe(self, chain: Blockchain, datastore: Datastore) -> None:
        for number in range(self.final_seen + 1, chain.final_height + 1):
            block = chain.blocks[number]
            for receipt in block.receipts:
                for event in receipt.events if receipt.success else ():
                    self._replay(datastore, receipt, event, block.timestamp)
            for sid, session in self.ideal.sessions.items():
                if block.timestamp >= session.config["cf_evaluation_deadline"]:
                    available = {
                        pid
                        for pid in session.providers
                        if not self.ideal.is_honest(pid) and self.is_available(datastore, sid, pid)
                    }
                    self.ideal.end_evaluation(sid, block.timestamp, available)
                    self._check_registered(sid, session)
            self.final_seen = number

    def _check_registered(self, sid: int, session) -> None:
        """Every honest provider asked in time to join a session of the honest collector
        is in it (its input reached F_HyperX): a real provider that never registers is
        a party that fails its user."""
        for (joined_sid, pid), when in self.joined.items():
            in_time = (
                when + self.ideal.evaluation_slack_s <= session.config["cf_evaluation_deadline"]
            )
            if joined_sid == sid and in_time and session.threshold is not None:
                require(
                    pid in session.providers or not self.ideal.is_honest(pid),
                    f"session {sid}: honest {pid} was asked to join in time and never registered",
                )

    def _replay(self, datastore: Datastore, receipt: Receipt, event: Event, now: int) -> None:
        ideal, args, sender = self.ideal, event.args, receipt.tx.sender
        sid = args.get("sid")
        if event.name == "CreateSession":
            config = {k: v for k, v in args.items() if k not in ("sid", "collector")}
            task = self.tasks.get(args["adr_theta"]) if ideal.is_honest(sender) else None
            threshold = None if task is None else task.threshold
            blob = datastore.get(args["adr_theta"]) if datastore.has(args["adr_theta"]) else None
            ideal.session_create(sid, args["collector"], config, threshold, blob)
        elif event.name == "Registration":
            self.roots[(sid, sender)] = (args["adr_data_root"], args["adr_manifest"])
            dataset = self.datasets.get((sid, sender))
            if not ideal.is_honest(sender):
                dataset = self.corrupt_datasets.get((sid, sender))
            require(
                dataset is not None or not ideal.is_honest(sender),
                f"session {sid}: honest {sender} registered, asked to join by no one "
                "(or outside its join policy)",
            )
            ideal.provider_participate(sid, sender, dataset, now)
        elif event.name == "SampleData":
            ideal.sample(sid, sender, args["pid"], list(args["indices"]), now)
        elif event.name == "SubmitFeatures":
            features = self.corrupt_features.get((sid, sender, args["adr_feature"]))
            ideal.submit_features(sid, sender, features, now)
        elif event.name == "SetCandidate":
            ideal.set_candidate(sid, sender, args["pid"], now)
        elif event.name == "SubmitReview":
            digest = compute_review_digest(
                args["ephemeral"], args["sealed_keys"], args["key_hashes"]
            )
            ideal.submit_review(sid, sender, now, self.deliveries.get((sid, digest), False))
        elif event.name == "DisputeReview":
            ideal.dispute_review(sid, sender, now)
        elif event.name == "SetOptimal":
            ideal.set_optimal(sid, sender, args["pid"], now)
        elif event.name == "ClaimReward":
            digest = compute_claim_digest(args["ephemeral"], args["sealed_master"])
            ideal.claim_reward(sid, sender, now, self.deliveries.get((sid, digest), False))
        elif event.name == "DisputeClaim":
            ideal.dispute_claim(sid, sender, now)
