"""The privacy-preserving quality assessor (paper §3.1.1, §3.2, §5) and `hyperx-eval`.

May import `hyperx.spec`, jax, flax, optax, numpy, scipy, scikit-learn, matplotlib, typer and rich; never web3 or vyper.

Stable Python API for the end-to-end clients (every artifact is `bytes`, ready for a
content-addressed store; its address is `content_hash(blob)`, a SHA-256 hex string):

Collector, before the session
    task = make_task(*load_digits_images(), config, seed)   # or load_images(path) for own data
    m_init = pretrain(config, task, seed)                     # M_init checkpoint bytes
    extractor, secret = publish(m_init, depth)                # obfuscated M_extractor, (delta, sigma)
    validation = (task.validation_x, task.validation_y)       # the collector's own held-out set

    `publish` draws (delta, sigma) from the OS's entropy on every call (a `seed` argument is
    still accepted and ignored): keep the secret bytes to score later, a second call makes
    another extractor.

Provider, after SampleData
    x, y = provider_dataset(config, task, family, level, seed)   # a synthetic provider (benchmarks, demos)
    x, y = provider_labels(extractor, load_labelled(path))       # or own data, labels mapped by class name
    features = extract_features(extractor, x, y, indices)        # deterministic bytes: B_hat + labels

Collector, evaluation and review
    ranked = score_providers(secret, m_init, [features, ...], validation, config, extractor)
    ranked, m_evals = score_providers_and_models(...)          # same, plus each provider's M_eval bytes
    best = optimal_provider(ranked)                              # None when nobody passes the threshold

    `ranked` is best first by `ProviderScore.score` (`config.scorer`, README "Selection
    accuracy"); `accuracy`/`loss` are M_eval's, one of the parts of that score. Rows equal
    to a validation item are counted in `duplicates` and left out of every figure.
    ok = review(extractor, revealed_x, revealed_y, features)     # revealed entries, in the sampled order

Bad input raises `QualityError` with a one-line message. `QualityConfig.tiny()` runs in seconds.
"""

from .checkpoints import content_hash
from .config import QualityConfig
from .corruptions import FAMILIES
from .data import Labelled, Task, load_digits_images, load_images, load_labelled, make_task
from .errors import QualityError
from .pipeline import (
    extract_features,
    load_features,
    load_m_eval,
    load_secret,
    pretrain,
    provider_dataset,
    provider_labels,
    publish,
    review,
    score_providers,
    score_providers_and_models,
)
from .scoring import ProviderScore, optimal_provider

__all__ = [
    "FAMILIES",
    "Labelled",
    "ProviderScore",
    "QualityConfig",
    "QualityError",
    "Task",
    "content_hash",
    "extract_features",
    "load_digits_images",
    "load_features",
    "load_images",
    "load_labelled",
    "load_m_eval",
    "load_secret",
    "make_task",
    "optimal_provider",
    "pretrain",
    "provider_dataset",
    "provider_labels",
    "publish",
    "review",
    "score_providers",
    "score_providers_and_models",
]
