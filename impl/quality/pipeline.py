"""The assessor end to end: pretrain M_init, publish an obfuscated extractor, extract
features (provider), review them, and fine-tune + score every provider (collector).

Artifacts cross between parties as bytes (see `checkpoints`); in-memory helpers
(`MInit`, `PublishedExtractor`, `FeatureSet`) are what those bytes load into.
"""

from dataclasses import dataclass
from functools import cache

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from . import checkpoints
from .config import QualityConfig
from .errors import QualityError
from .models import CNN, NUM_LAYERS, Architecture, EvalHead, Extractor, build_layers
from .obfuscation import Secret, obfuscate_layer, sample_secret
from .train import Hyper, fit_and_score, make_train_loop, stack_states

# Providers extract in batches of this many images: each row is computed by the same
# compiled program whatever the dataset size, so extraction is deterministic.
EXTRACT_BATCH = 256
# Review tolerance: |recomputed - submitted| <= REVIEW_ATOL * max|submitted| + REVIEW_RTOL * |submitted|.
# Matmuls run at HIGHEST precision (no TF32), so CPU and GPU differ only in summation
# order, a few float32 ulps (~1e-6 relative); 1e-4 leaves two orders of margin while a
# changed image moves its features by far more.
REVIEW_RTOL = 1e-4
REVIEW_ATOL = 1e-4


@dataclass(frozen=True)
class MInit:
    arch: Architecture
    params: dict  # pure dict of the CNN's state
    pretrain_classes: tuple[int, ...]
    task_classes: tuple[int, ...]
    sha256: str

    def model(self) -> CNN:
        return build_model(self.arch, self.params)


@dataclass(frozen=True)
class PublishedExtractor:
    arch: Architecture
    depth: int
    params: dict
    num_task_classes: int
    sha256: str


@dataclass(frozen=True)
class FeatureSet:
    features: np.ndarray  # (n, *feature_shape): obfuscated B_hat
    labels: np.ndarray  # (n,)
    indices: np.ndarray  # (n,): positions of the sampled entries in the provider's dataset
    extractor_sha256: str
    sha256: str


@dataclass(frozen=True)
class CollectorSecret:
    secret: Secret
    depth: int
    extractor_sha256: str
    m_init_sha256: str


def build_model(arch: Architecture, params: dict) -> CNN:
    model = CNN(arch, rngs=nnx.Rngs(0))
    state = nnx.state(model)
    nnx.replace_by_pure_dict(state, jax.tree.map(jnp.asarray, params))
    nnx.update(model, state)
    return model


# ---------------------------------------------------------------- pretraining (collector)


@cache
def _compiled_pretrain_loop(graphdef: nnx.GraphDef, hyper: Hyper):
    optimizer, loop = make_train_loop(graphdef, hyper)
    return optimizer, jax.jit(loop)


def pretrain_params(
    arch: Architecture,
    x: np.ndarray,
    y: np.ndarray,
    config: QualityConfig,
    seed: int,
    progress=None,
    chunks: int = 10,
) -> dict:
    """Train the CNN on generic data; a compiled scan per chunk so progress can be shown.
    With `pretrain_steps=0` the CNN keeps its random initialisation."""
    graphdef, state = nnx.split(CNN(arch, rngs=nnx.Rngs(seed)))
    optimizer, loop = _compiled_pretrain_loop(
        graphdef, Hyper(config.pretrain_steps, config.pretrain_batch, config.pretrain_learning_rate)
    )
    opt_state = optimizer.init(state)
    keys = jax.random.split(jax.random.key(seed + 1), config.pretrain_steps)
    x, y = jnp.asarray(x), jnp.asarray(y)
    for chunk in np.array_split(np.arange(config.pretrain_steps), chunks):
        if len(chunk):
            state, opt_state, _ = loop(state, opt_state, x, y, len(x), keys[chunk])
        if progress is not None:
            progress(len(chunk))
    return nnx.to_pure_dict(state)


def pretrain(config: QualityConfig, task=None, seed: int | None = None, progress=None) -> bytes:
    """M_init trained on the task's generic classes, as checkpoint bytes (default task:
    the embedded digits split by `config.seed`)."""
    seed = config.seed if seed is None else seed
    if task is None:
        from .data import load_digits_images, make_task

        task = make_task(*load_digits_images(), config, seed)
    height, width = task.image_shape
    arch = Architecture(
        height,
        width,
        tuple(config.conv_channels),
        config.hidden_units,
        len(config.pretrain_classes),
    )
    params = pretrain_params(arch, task.pretrain_x, task.pretrain_y, config, seed, progress)
    return checkpoints.dump(
        "m_init",
        {
            "architecture": arch.to_dict(),
            "params": checkpoints.flatten_params(params),
            "pretrain_classes": list(config.pretrain_classes),
            "task_classes": list(config.task_classes),
        },
    )


def load_m_init(blob: bytes, name: str = "M_init checkpoint") -> MInit:
    content = checkpoints.load(blob, "m_init", name)
    try:
        arch = Architecture.from_dict(content["architecture"])
        params = checkpoints.unflatten_params(content["params"])
        expected = checkpoints.flatten_params(
            nnx.to_pure_dict(nnx.state(CNN(arch, rngs=nnx.Rngs(0))))
        )
        if {k: v.shape for k, v in content["params"].items()} != {
            k: v.shape for k, v in expected.items()
        }:
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise QualityError(f"{name}: parameters do not match its architecture") from None
    return MInit(
        arch,
        params,
        tuple(content["pretrain_classes"]),
        tuple(content["task_classes"]),
        checkpoints.content_hash(blob),
    )


def accuracy(model: CNN, x: np.ndarray, y: np.ndarray) -> float:
    return float(jnp.mean(jnp.argmax(model(jnp.asarray(x)), -1) == jnp.asarray(y)))


# ---------------------------------------------------------------- publishing (collector)


def check_depth(depth: int) -> None:
    if not 1 <= depth < NUM_LAYERS:
        raise QualityError(
            f"extractor depth K must be 1..{NUM_LAYERS - 1} (a linear layer before the output), got {depth}"
        )


def publish(m_init_bytes: bytes, depth: int, seed: int) -> tuple[bytes, bytes]:
    """Truncate M_init to its first K layers and obfuscate the last: (extractor, secret) bytes."""
    check_depth(depth)
    m_init = load_m_init(m_init_bytes)
    layers = {i: dict(m_init.params["layers"][i]) for i in range(depth)}
    last = layers[depth - 1]
    secret = sample_secret(jax.random.key(seed), last["bias"].shape[0])
    kernel, bias = obfuscate_layer(jnp.asarray(last["kernel"]), jnp.asarray(last["bias"]), secret)
    layers[depth - 1] = {"kernel": np.asarray(kernel), "bias": np.asarray(bias)}
    extractor_bytes = checkpoints.dump(
        "extractor",
        {
            "architecture": m_init.arch.to_dict(),
            "depth": depth,
            "num_task_classes": len(m_init.task_classes),
            "params": checkpoints.flatten_params({"layers": layers}),
        },
    )
    secret_bytes = checkpoints.dump(
        "secret",
        {
            "delta": secret.delta,
            "sigma": secret.sigma,
            "depth": depth,
            "extractor_sha256": checkpoints.content_hash(extractor_bytes),
            "m_init_sha256": m_init.sha256,
        },
    )
    return extractor_bytes, secret_bytes


def load_extractor(blob: bytes, name: str = "extractor") -> PublishedExtractor:
    content = checkpoints.load(blob, "extractor", name)
    arch = Architecture.from_dict(content["architecture"])
    depth = int(content["depth"])
    check_depth(depth)
    params = checkpoints.unflatten_params(content["params"])
    return PublishedExtractor(
        arch, depth, params, int(content["num_task_classes"]), checkpoints.content_hash(blob)
    )


def load_secret(blob: bytes, name: str = "secret") -> CollectorSecret:
    content = checkpoints.load(blob, "secret", name)
    secret = Secret(
        np.asarray(content["delta"], np.float32), np.asarray(content["sigma"], np.float32)
    )
    return CollectorSecret(
        secret, int(content["depth"]), content["extractor_sha256"], content["m_init_sha256"]
    )


def check_secret_matches_extractor(secret: CollectorSecret, extractor: PublishedExtractor) -> None:
    if secret.extractor_sha256 != extractor.sha256:
        raise QualityError(
            f"the secret belongs to extractor {secret.extractor_sha256[:12]}, not to {extractor.sha256[:12]}"
        )


# ---------------------------------------------------------------- extraction (provider)


@cache
def _compiled_extractor(arch: Architecture, depth: int):
    graphdef, template = nnx.split(Extractor(build_layers(arch, nnx.Rngs(0))[:depth]))

    @jax.jit
    def run(state, images):
        return nnx.merge(graphdef, state)(images)

    return template, run


def run_extractor(arch: Architecture, depth: int, params: dict, images: np.ndarray) -> np.ndarray:
    """Features of `images` under a (possibly obfuscated) extractor, in fixed-size batches."""
    template, run = _compiled_extractor(arch, depth)
    state = jax.tree.map(lambda leaf: leaf, template)
    try:
        nnx.replace_by_pure_dict(state, jax.tree.map(jnp.asarray, params))
        shapes = [leaf.shape for leaf in jax.tree.leaves(state)]
        if shapes != [leaf.shape for leaf in jax.tree.leaves(template)]:
            raise ValueError
    except (KeyError, ValueError):
        raise QualityError("extractor: parameters do not match its architecture") from None
    out = np.empty((len(images), *arch.feature_shape(depth)), np.float32)
    for start in range(0, len(images), EXTRACT_BATCH):
        batch = images[start : start + EXTRACT_BATCH]
        padded = np.zeros((EXTRACT_BATCH, *images.shape[1:]), np.float32)
        padded[: len(batch)] = batch
        out[start : start + len(batch)] = np.asarray(run(state, padded))[: len(batch)]
    return out


def check_provider_images(
    extractor: PublishedExtractor, images, labels
) -> tuple[np.ndarray, np.ndarray]:
    images, labels = np.asarray(images, np.float32), np.asarray(labels)
    expected = (extractor.arch.height, extractor.arch.width)
    if images.ndim != 3 or images.shape[1:] != expected:
        raise QualityError(
            f"images must have shape (N, {expected[0]}, {expected[1]}) for this extractor, got {images.shape}"
        )
    if labels.shape != (len(images),):
        raise QualityError(
            f"every image needs one label: {len(images)} images but labels of shape {labels.shape}"
        )
    if (
        not np.issubdtype(labels.dtype, np.integer)
        or labels.min(initial=0) < 0
        or labels.max(initial=0) >= extractor.num_task_classes
    ):
        raise QualityError(f"labels must be integers in 0..{extractor.num_task_classes - 1}")
    return images, labels.astype(np.int32)


def extract_features(extractor_bytes: bytes, images, labels, indices=None) -> bytes:
    """Provider side (Eq. 2): features B_hat of the sampled entries, with their labels."""
    extractor = load_extractor(extractor_bytes)
    images, labels = check_provider_images(extractor, images, labels)
    indices = np.arange(len(images)) if indices is None else np.asarray(indices, np.int64)
    if indices.ndim != 1 or len(indices) == 0 or indices.min() < 0 or indices.max() >= len(images):
        raise QualityError(f"sample indices must be a non-empty list within 0..{len(images) - 1}")
    features = run_extractor(extractor.arch, extractor.depth, extractor.params, images[indices])
    return checkpoints.dump(
        "features",
        {
            "features": features,
            "labels": labels[indices],
            "indices": indices,
            "extractor_sha256": extractor.sha256,
        },
    )


def load_features(blob: bytes, name: str = "features") -> FeatureSet:
    content = checkpoints.load(blob, "features", name)
    for key in ("features", "labels", "indices", "extractor_sha256"):
        if key not in content:
            raise QualityError(f"{name}: has no {key}")
    features, labels = np.asarray(content["features"]), np.asarray(content["labels"])
    if labels.shape != (len(features),):
        raise QualityError(
            f"{name}: {len(features)} feature rows but {labels.size} labels (a label is missing)"
        )
    return FeatureSet(
        features,
        labels,
        np.asarray(content["indices"]),
        content["extractor_sha256"],
        checkpoints.content_hash(blob),
    )


def review(extractor_bytes: bytes, images, labels, features_bytes: bytes) -> bool:
    """Collector side: do the revealed plaintext entries produce the submitted features?

    `images`/`labels` are the revealed sampled entries, in the order of the features
    file. Equality within REVIEW_RTOL/REVIEW_ATOL (relative to the largest feature).
    """
    extractor = load_extractor(extractor_bytes)
    submitted = load_features(features_bytes)
    if submitted.extractor_sha256 != extractor.sha256:
        return False
    images, labels = check_provider_images(extractor, images, labels)
    if len(images) != len(submitted.features) or not np.array_equal(labels, submitted.labels):
        return False
    recomputed = run_extractor(extractor.arch, extractor.depth, extractor.params, images)
    scale = float(np.max(np.abs(submitted.features), initial=1.0))
    return bool(
        np.allclose(recomputed, submitted.features, rtol=REVIEW_RTOL, atol=REVIEW_ATOL * scale)
    )


# ---------------------------------------------------------------- evaluation (collector)


@cache
def _fresh_heads(arch: Architecture, depth: int, num_classes: int, replicas: int, seed: int):
    """R freshly initialised heads, stacked: (graphdef, state, its pure dict)."""
    states = []
    for replica in range(replicas):
        graphdef, state = nnx.split(
            EvalHead(
                arch,
                depth,
                num_classes,
                rngs=nnx.Rngs(jax.random.fold_in(jax.random.key(seed), replica)),
            )
        )
        states.append(state)
    stacked = stack_states(states)
    return graphdef, stacked, nnx.to_pure_dict(stacked)


def head_states(m_init: MInit, depth: int, replicas: int, seed: int):
    """R initial M_eval heads: M_init's layers after K, a fresh output layer per replica."""
    graphdef, template, fresh = _fresh_heads(
        m_init.arch, depth, len(m_init.task_classes), replicas, seed
    )
    pure = {"layers": dict(fresh["layers"])}
    for j in range(len(pure["layers"]) - 1):
        pure["layers"][j] = jax.tree.map(
            lambda leaf: np.broadcast_to(leaf, (replicas, *leaf.shape)),
            m_init.params["layers"][depth + j],
        )
    state = jax.tree.map(lambda leaf: leaf, template)
    nnx.replace_by_pure_dict(state, pure)
    return graphdef, state


def collector_features(m_init: MInit, depth: int, images: np.ndarray) -> np.ndarray:
    """The collector's own, un-obfuscated features of M_init's first K layers (compiled)."""
    first_layers = {"layers": {i: m_init.params["layers"][i] for i in range(depth)}}
    return run_extractor(m_init.arch, depth, first_layers, np.asarray(images, np.float32))


def replica_keys(seed: int, replicas: int) -> jax.Array:
    return jax.random.split(jax.random.key(seed), replicas)


def finetune_and_score(
    m_init: MInit,
    depth: int,
    secret: Secret | None,
    feature_sets,
    validation,
    config: QualityConfig,
    seed: int,
    rows: int | None = None,
    providers: int | None = None,
    with_models: bool = False,
):
    """Eq. 3 + Eq. 4 for every provider at once: (accuracy, loss) arrays of shape (P, R),
    and with `with_models` the trained heads (graphdef, states of shape (P, R, ...)).

    `feature_sets` are (features, labels) pairs of obfuscated B_hat (with `secret=None`,
    plain features of M_init's first K layers); Eq. 3 runs inside the compiled program.
    `rows`/`providers` pad the inputs so that calls of different sizes share a program.
    """
    graphdef, states = head_states(m_init, depth, config.finetunes_per_dataset, seed)
    keys = replica_keys(seed + 7919, config.finetunes_per_dataset)
    val_x, val_y = validation
    val_features = collector_features(m_init, depth, val_x)
    hyper = Hyper(config.finetune_steps, config.finetune_batch, config.finetune_learning_rate)
    accuracy, loss, trained = fit_and_score(
        graphdef,
        states,
        keys,
        list(feature_sets),
        val_features,
        np.asarray(val_y),
        hyper,
        secret,
        depth,
        rows,
        providers,
    )
    if with_models:
        return accuracy, loss, (graphdef, trained)
    return accuracy, loss


def score_providers(
    secret_bytes: bytes,
    m_init_bytes: bytes,
    features: list[bytes],
    validation,
    config: QualityConfig | None = None,
    extractor_bytes: bytes | None = None,
):
    """Collector side: decode, fine-tune and score every provider's features; ranked list.

    `validation` is the collector's (images, labels) of the task classes.
    """
    return score_providers_and_models(
        secret_bytes, m_init_bytes, features, validation, config, extractor_bytes
    )[0]


def score_providers_and_models(
    secret_bytes: bytes,
    m_init_bytes: bytes,
    features: list[bytes],
    validation,
    config: QualityConfig | None = None,
    extractor_bytes: bytes | None = None,
):
    """`score_providers`, and each provider's M_eval checkpoint bytes (its first fine-tune)."""
    from .scoring import rank

    config = config or QualityConfig.default()
    secret = load_secret(secret_bytes)
    m_init = load_m_init(m_init_bytes)
    if secret.m_init_sha256 != m_init.sha256:
        raise QualityError(
            f"the secret was made from M_init {secret.m_init_sha256[:12]}, not from {m_init.sha256[:12]}"
        )
    if extractor_bytes is not None:
        check_secret_matches_extractor(secret, load_extractor(extractor_bytes))
    if not features:
        raise QualityError("no features file to score")
    expected_shape = m_init.arch.feature_shape(secret.depth)
    sets = []
    for number, blob in enumerate(features):
        name = f"features file #{number + 1}"
        feature_set = load_features(blob, name)
        if feature_set.extractor_sha256 != secret.extractor_sha256:
            raise QualityError(
                f"{name} was extracted with extractor {feature_set.extractor_sha256[:12]}, but the secret belongs to {secret.extractor_sha256[:12]}"
            )
        if feature_set.features.shape[1:] != expected_shape or len(feature_set.features) == 0:
            raise QualityError(
                f"{name}: features of shape {feature_set.features.shape}, expected (n>0, {', '.join(map(str, expected_shape))})"
            )
        if feature_set.labels.min() < 0 or feature_set.labels.max() >= len(m_init.task_classes):
            raise QualityError(f"{name}: labels must be in 0..{len(m_init.task_classes) - 1}")
        sets.append((feature_set.features.astype(np.float32), feature_set.labels.astype(np.int32)))
    val_x, val_y = np.asarray(validation[0], np.float32), np.asarray(validation[1], np.int32)
    if val_x.shape[1:] != (m_init.arch.height, m_init.arch.width) or val_y.shape != (len(val_x),):
        raise QualityError(
            f"validation images must be (N, {m_init.arch.height}, {m_init.arch.width}) with N labels, got {val_x.shape} and {val_y.shape}"
        )
    acc, loss, (graphdef, trained) = finetune_and_score(
        m_init,
        secret.depth,
        secret.secret,
        sets,
        (val_x, val_y),
        config,
        config.seed,
        with_models=True,
    )
    m_evals = []
    for provider in range(len(sets)):
        head = nnx.to_pure_dict(
            jax.tree.map(lambda leaf, p=provider: np.asarray(leaf[p, 0]), trained)
        )
        m_evals.append(
            checkpoints.dump(
                "m_eval",
                {
                    "architecture": m_init.arch.to_dict(),
                    "depth": secret.depth,
                    "num_classes": len(m_init.task_classes),
                    "m_init_sha256": m_init.sha256,
                    "features_sha256": checkpoints.content_hash(features[provider]),
                    "params": checkpoints.flatten_params(head),
                },
            )
        )
    return rank(acc, loss, config.score_threshold), m_evals


def load_m_eval(blob: bytes, name: str = "M_eval checkpoint") -> tuple[EvalHead, int]:
    """The evaluation head and its depth K; its input is B of Eq. 3 (decoded, activated)."""
    content = checkpoints.load(blob, "m_eval", name)
    arch, depth = Architecture.from_dict(content["architecture"]), int(content["depth"])
    check_depth(depth)
    head = EvalHead(arch, depth, int(content["num_classes"]), rngs=nnx.Rngs(0))
    state = nnx.state(head)
    try:
        nnx.replace_by_pure_dict(
            state, jax.tree.map(jnp.asarray, checkpoints.unflatten_params(content["params"]))
        )
    except (KeyError, ValueError):
        raise QualityError(f"{name}: parameters do not match its architecture") from None
    nnx.update(head, state)
    return head, depth


# ---------------------------------------------------------------- datasets


def provider_dataset(
    config: QualityConfig, task, family: str, level: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic provider's dataset: the task's original pool under `family` at `level`."""
    from .corruptions import corrupt

    return corrupt(task.pool_x, task.pool_y, family, level, seed, len(config.task_classes))
