"""The simulator S of paper 6.1.4: it watches the real world's public side effects
and replays them into F_HyperX, so that one environment drives both worlds.

What S sees, and only that: the finalized blocks of F_BC (every successful call,
its sender and block time), F_DS (public, content addressed), the honest parties'
inputs as the environment gives them (the collector's task, a provider's dataset:
the dummy parties of the ideal protocol forward these to F_HyperX), and the
internals of corrupted parties (they are the adversary's), including which
deviation the environment asked of them.

Each final event becomes one call of F_HyperX, with the block time, in block
order; a block stamped at or after a session's cf_evaluation_deadline also
triggers the honest collector's EndEvaluation (as the real collector's timer).
Money pulls (ClaimDeposit, ClaimRefund) need no call: F_HyperX settles in
`finish`. S decides nothing about outcomes; if the real world moves in a way
F_HyperX refuses, F_HyperX raises SimulationError and the refinement fails.
"""

from dataclasses import dataclass, field

from .chain import Blockchain, Receipt
from .contract import Address, Event
from .datastore import Datastore
from .ideal import FHyperX
from .merkle import get_chunk_count
from .parties import Task


@dataclass
class Simulator:
    ideal: FHyperX
    tasks: dict[bytes, Task] = field(default_factory=dict)  # adr_theta -> the collector's input
    datasets: dict[tuple[int, Address], list[bytes]] = field(default_factory=dict)
    corrupt_datasets: dict = field(default_factory=dict)  # (sid, pid) -> (dataset, keys)
    sealed_faithfully: dict[int, bool] = field(default_factory=dict)  # adversary tx id -> K ok
    final_seen: int = 0
    chunks: dict[int, int] = field(default_factory=dict)

    # Inputs of honest parties, as the dummy parties forward them

    def on_task(self, adr_theta: bytes, task: Task) -> None:
        self.tasks[adr_theta] = task

    def on_join(self, sid: int, pid: Address, dataset: list[bytes]) -> None:
        self.datasets.setdefault((sid, pid), list(dataset))

    def on_corrupt(self, party: Address) -> None:
        self.ideal.corrupt(party)

    # The adversary's own moves

    def on_adversary_holding(self, sid: int, pid: Address, dataset, keys) -> None:
        self.corrupt_datasets[(sid, pid)] = (list(dataset), list(keys))

    def on_adversary_review(self, tx_id: int, sealed_faithfully: bool) -> None:
        self.sealed_faithfully[tx_id] = sealed_faithfully

    # Observing the real world

    def observe(self, chain: Blockchain, datastore: Datastore) -> None:
        for number in range(self.final_seen + 1, chain.final_height + 1):
            block = chain.blocks[number]
            for receipt in block.receipts:
                for event in receipt.events if receipt.success else ():
                    self._replay(datastore, receipt, event, block.timestamp)
            for sid, session in self.ideal.sessions.items():
                if block.timestamp >= session.config["cf_evaluation_deadline"]:
                    self.ideal.end_evaluation(sid, block.timestamp)
            self.final_seen = number

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
            dataset = self.datasets.get((sid, sender))
            if (sid, sender) in self.corrupt_datasets:
                dataset = self.corrupt_datasets[(sid, sender)][0]
            ideal.provider_participate(sid, sender, dataset, now)
        elif event.name == "SampleData":
            ideal.sample(sid, sender, args["pid"], list(args["indices"]), now)
        elif event.name == "SubmitFeatures":
            key = args["adr_feature"]
            features = datastore.get(key) if datastore.has(key) else None
            ideal.submit_features(sid, sender, features, now)
        elif event.name == "SetCandidate":
            ideal.set_candidate(sid, sender, args["pid"], now)
        elif event.name == "SubmitReview":
            discloses, key_ok = True, True
            if not ideal.is_honest(sender) and (sid, sender) in self.corrupt_datasets:
                keys = self.corrupt_datasets[(sid, sender)][1]
                discloses = list(args["keys"]) == [keys[i] for i in args["indices"]]
                key_ok = self.sealed_faithfully.get(receipt.tx.tx_id, True)
            elif not ideal.is_honest(sender):
                discloses = False  # it committed no data, so it has no keys to open
            ideal.submit_review(sid, sender, now, discloses, key_ok)
        elif event.name == "SetOptimal":
            ideal.set_optimal(sid, sender, args["pid"], now)
        elif event.name == "ClaimReward":
            self.chunks[sid] = self.chunks.get(sid, 0) + 1
            cf_shards = ideal.sessions[sid].config["cf_shards"]
            if self.chunks[sid] == get_chunk_count(cf_shards):
                ideal.claim_reward(sid, sender, now)
