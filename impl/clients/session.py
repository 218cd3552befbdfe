"""One whole trading session in one process: the collector and N providers, stepped in turn.

This is what `hyperx session run` drives. The parties are the same clients that run
alone (`hyperx collector start`, `hyperx provider join`), each with its own SQLite
file and key; here one loop gives each a turn until every one is done. On a
development chain (the embedded EVM, anvil) the loop fast-forwards the chain's clock
to the next deadline when no party has anything to do, instead of waiting for it.
"""

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import platformdirs

from hyperx.impl.clients.collector import Assessor
from hyperx.impl.quality import corruptions, data, pipeline
from hyperx.impl.quality.config import QualityConfig


class SessionError(RuntimeError):
    """The session could not finish; the message says where it stopped."""


@dataclass(frozen=True)
class ProviderSpec:
    """A synthetic provider: the task's pool, corrupted by one family at one level."""

    family: str
    level: int

    @property
    def label(self) -> str:
        return (
            "original"
            if self.level == 0
            else f"{self.family} {corruptions.FAMILIES[self.family][self.level]:g}"
        )


def provider_specs(count: int, family: str = "mislabel", seed: int = 0) -> list[ProviderSpec]:
    """`count` providers of distinct corruption levels (one of them the original), in a seeded order."""
    levels = corruptions.num_levels(family)
    if not 1 <= count <= levels:
        raise SessionError(
            f"--providers must be between 1 and {levels} for the '{family}' family, got {count}"
        )
    chosen = np.round(np.linspace(0, min(levels - 1, 2 * (count - 1)), count)).astype(int)
    order = np.random.default_rng(seed).permutation(count)
    return [ProviderSpec(family, int(chosen[i])) for i in order]


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir("hyperx"))


def load_task(config: QualityConfig, seed: int) -> data.Task:
    x, y = data.load_digits_images()
    return data.make_task(x, y, config, seed)


def pretrained_m_init(config: QualityConfig, task: data.Task, seed: int, progress=None) -> bytes:
    """M_init for `config`, from the user cache when an identical config made it before."""
    key = hashlib.sha256(
        json.dumps([repr(config), seed, len(task.pretrain_x)]).encode()
    ).hexdigest()[:16]
    path = cache_dir() / f"m_init-{key}.msgpack"
    if path.is_file():
        try:
            pipeline.load_m_init(path.read_bytes())
            return path.read_bytes()
        except Exception:  # a truncated cache file is rebuilt below  # noqa: BLE001
            path.unlink()
    m_init = pipeline.pretrain(config, task, seed, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(m_init)
    tmp.replace(path)
    return m_init


def prepare_assessor(config: QualityConfig, task: data.Task, seed: int, progress=None) -> Assessor:
    m_init = pretrained_m_init(config, task, seed, progress)
    extractor, secret = pipeline.publish(m_init, config.extractor_depth, seed + 1)
    return Assessor(config, m_init, extractor, secret, (task.validation_x, task.validation_y))


def provider_dataset(task: data.Task, spec: ProviderSpec, config: QualityConfig, seed: int):
    return corruptions.corrupt(
        task.pool_x, task.pool_y, spec.family, spec.level, seed, len(config.task_classes)
    )


@dataclass
class Loop:
    """Steps the parties until all are done, fast-forwarding a development chain's clock."""

    ledger: object
    parties: list
    fast_forward: bool = True
    max_idle_turns: int = 3
    poll_s: float = 0.2
    on_turn: object = None
    timeline: list = field(default_factory=list)

    def run(self, timeout_s: float) -> None:
        start, idle = time.monotonic(), 0
        while not all(p.is_done() for p in self.parties):
            if time.monotonic() - start > timeout_s:
                waiting = [f"{p.role} {p.address}" for p in self.parties if not p.is_done()]
                raise SessionError(
                    f"the session did not finish within {timeout_s:g} s; still waiting: {', '.join(waiting)}"
                )
            progressed = False
            for party in self.parties:
                progressed |= party.step()
            if self.on_turn is not None:
                self.on_turn()
            idle = 0 if progressed else idle + 1
            if idle >= self.max_idle_turns:
                if self.fast_forward:
                    self.skip_to_next_deadline()
                else:
                    time.sleep(self.poll_s)
                idle = 0

    def skip_to_next_deadline(self) -> None:
        now = self.ledger.timestamp(self.ledger.head())
        deadlines = [d for p in self.parties for d in p.deadlines() if d >= now]
        self.ledger.advance_time(max(1, (min(deadlines) if deadlines else now) - now + 1))
