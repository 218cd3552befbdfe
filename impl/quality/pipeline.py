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
from .models import CNN, NUM_LAYERS, Architecture, EvalHead, Extractor, after_layer, build_layers
from .obfuscation import Secret, decode_features, obfuscate_layer, sample_secret
from .train import Hyper, fit, make_train_loop, stack_states
from .valuation import data_oob, exact_duplicates, knn_shapley

# Providers extract in batches of this many images: each row is computed by the same
# compiled program whatever the dataset size, so extraction is deterministic.
EXTRACT_BATCH = 256
# Review tolerance: |recomputed - submitted| <= REVIEW_ATOL * max|submitted| + REVIEW_RTOL * |submitted|.
# Matmuls run at HIGHEST precision (no TF32), so CPU and GPU differ only in summation
# order, a few float32 ulps (~1e-6 relative); 1e-4 leaves two orders of margin while a
# changed image moves its features by far more.
REVIEW_RTOL = 1e-4
REVIEW_ATOL = 1e-4
# f_actv runs over the decoded features in batches of this many rows.
ACTIVATE_BATCH = 4096


@dataclass(frozen=True)
class MInit:
    arch: Architecture
    params: dict  # pure dict of the CNN's state
    pretrain_classes: tuple[int, ...]  # label codes of the data it was made from
    task_classes: tuple[int, ...]
    sha256: str
    pretrain_class_names: tuple[str, ...] = ()
    task_class_names: tuple[str, ...] = ()

    def model(self) -> CNN:
        return build_model(self.arch, self.params)


@dataclass(frozen=True)
class PublishedExtractor:
    arch: Architecture
    depth: int
    params: dict
    num_task_classes: int
    sha256: str
    task_class_names: tuple[str, ...] = ()  # index i of a provider's labels names this class


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
            "pretrain_class_names": list(
                task.pretrain_class_names or map(str, config.pretrain_classes)
            ),
            "task_class_names": list(task.task_class_names or map(str, config.task_classes)),
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
    pretrain_classes, task_classes = (
        tuple(content["pretrain_classes"]),
        tuple(content["task_classes"]),
    )
    return MInit(
        arch,
        params,
        pretrain_classes,
        task_classes,
        checkpoints.content_hash(blob),
        tuple(content.get("pretrain_class_names", map(str, pretrain_classes))),
        tuple(content.get("task_class_names", map(str, task_classes))),
    )


def accuracy(model: CNN, x: np.ndarray, y: np.ndarray) -> float:
    return float(jnp.mean(jnp.argmax(model(jnp.asarray(x)), -1) == jnp.asarray(y)))


# ---------------------------------------------------------------- publishing (collector)


def check_depth(depth: int) -> None:
    if not 1 <= depth < NUM_LAYERS:
        raise QualityError(
            f"extractor depth K must be 1..{NUM_LAYERS - 1} (a linear layer before the output), got {depth}"
        )


def publish(m_init_bytes: bytes, depth: int, seed: int | None = None) -> tuple[bytes, bytes]:
    """Truncate M_init to its first K layers and obfuscate the last: (extractor, secret) bytes.

    (delta, sigma) come from the operating system's entropy on every call. `seed` is
    accepted for the callers that pass one and drives nothing: a secret derived from a
    seed could be regenerated by anyone who knows the seed.
    """
    del seed
    check_depth(depth)
    m_init = load_m_init(m_init_bytes)
    layers = {i: dict(m_init.params["layers"][i]) for i in range(depth)}
    last = layers[depth - 1]
    secret = sample_secret(last["bias"].shape[0])
    kernel, bias = obfuscate_layer(jnp.asarray(last["kernel"]), jnp.asarray(last["bias"]), secret)
    layers[depth - 1] = {"kernel": np.asarray(kernel), "bias": np.asarray(bias)}
    extractor_bytes = checkpoints.dump(
        "extractor",
        {
            "architecture": m_init.arch.to_dict(),
            "depth": depth,
            "num_task_classes": len(m_init.task_classes),
            "task_class_names": list(m_init.task_class_names),
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
    classes = int(content["num_task_classes"])
    return PublishedExtractor(
        arch,
        depth,
        params,
        classes,
        checkpoints.content_hash(blob),
        tuple(content.get("task_class_names", map(str, range(classes)))),
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


def provider_labels(extractor_bytes: bytes, labelled, where: str = "dataset"):
    """A provider's own images and labels (`data.load_labelled`) as `extract_features`
    takes them: labels mapped to task indices by the class names the extractor carries."""
    from .data import task_labels

    extractor = load_extractor(extractor_bytes)
    return labelled.x, task_labels(labelled, extractor.task_class_names, where)


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


@cache
def _compiled_activation(depth: int):
    return jax.jit(lambda z: after_layer(depth, z))


def activate(depth: int, features: np.ndarray) -> np.ndarray:
    """f_actv of Eq. 3: layer K's activation (and pooling) on plain or decoded features."""
    out = [
        np.asarray(_compiled_activation(depth)(features[start : start + ACTIVATE_BATCH]))
        for start in range(0, len(features), ACTIVATE_BATCH)
    ]
    return np.concatenate(out) if out else np.zeros((0,), np.float32)


def split_validation(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The collector's validation rows as (tuning, scoring) index arrays, fixed by `seed`."""
    n = len(labels)
    if n < 2:
        raise QualityError(
            f"the validation set needs at least 2 entries (a tuning and a scoring split), got {n}"
        )
    order = np.random.default_rng([seed, 7919]).permutation(n)
    cut = min(max(1, int(round(n * fraction))), n - 1)
    return np.sort(order[:cut]), np.sort(order[cut:])


@dataclass(frozen=True)
class Assessment:
    """Every figure of every provider, and with `keep_states` the head to publish as M_eval."""

    fields: dict  # per provider (P,) arrays, the keys `scoring.rank` reads
    head: object  # train.FitResult of the M_eval heads (None when no provider had rows)
    graphdef: object
    trained: list  # provider index -> position in `head` (None: nothing left to train on)


def assess(
    m_init: MInit,
    depth: int,
    secret: Secret | None,
    feature_sets,
    validation,
    config: QualityConfig,
    seed: int,
    keep_states: bool = False,
    rows: int | None = None,
    providers: int | None = None,
) -> Assessment:
    """Decode (Eq. 3), fine-tune M_eval heads (Eq. 4) and value every provider at once.

    `feature_sets` are (features, labels) pairs of obfuscated B_hat (with `secret=None`,
    plain features of M_init's first K layers). A feature row equal to one of the
    collector's validation items (decoding is exact) is counted in `duplicates` and left
    out of every score: it is nothing new to the collector, and scoring it would let a
    provider who copied validation data rank first. `rows`/`providers` pad the inputs
    so that calls of different sizes share a compiled program.
    """
    val_x, val_y = validation
    val_plain = collector_features(m_init, depth, val_x)
    val_features = activate(depth, val_plain)
    tune, score = split_validation(val_y, config.tuning_fraction, seed)
    tuning, scoring = (val_features[tune], val_y[tune]), (val_features[score], val_y[score])
    classes = len(m_init.task_classes)
    decoded, duplicates = [], []
    for features, labels in feature_sets:
        plain = (
            features if secret is None else decode_features(features, secret.delta, secret.sigma)
        )
        copied = exact_duplicates(plain, val_plain, REVIEW_ATOL)
        duplicates.append(int(copied.sum()))
        decoded.append((activate(depth, np.asarray(plain)[~copied]), np.asarray(labels)[~copied]))
    trained = [i for i, (f, _) in enumerate(decoded) if len(f)]
    count = len(decoded)
    fields = {
        "head": np.zeros(count),
        "accuracy_spread": np.zeros(count),
        "loss": np.full(count, np.nan),
        "learning_rate": np.full(count, np.nan),
        "steps": np.zeros(count, int),
        "tune_head": np.zeros(count),
        "tune_loss": np.full(count, np.nan),
        "knn_shapley": np.zeros(count),
        "tune_knn_shapley": np.zeros(count),
        "data_oob": np.zeros(count),
        "entries": np.asarray([len(f) for f, _ in decoded]),
        "duplicates": np.asarray(duplicates),
    }
    head, graphdef = None, None
    if trained:
        graphdef, states = head_states(m_init, depth, config.replicas, seed)
        head = fit(
            graphdef,
            states,
            replica_keys(seed + 7919, config.replicas),
            [decoded[i] for i in trained],
            tuning,
            scoring,
            config.budget(),
            keep_states,
            rows,
            providers,
        )
        chosen = head.chosen()
        fields["head"][trained] = chosen["score_accuracy"].mean(1)
        fields["accuracy_spread"][trained] = chosen["score_accuracy"].std(1)
        fields["loss"][trained] = chosen["score_loss"].mean(1)
        fields["tune_head"][trained] = chosen["tune_accuracy"].mean(1)
        fields["tune_loss"][trained] = chosen["tune_loss"].mean(1)
        fields["learning_rate"][trained] = chosen["learning_rate"]
        fields["steps"][trained] = chosen["steps"]
    for i in trained:
        features, labels = decoded[i]
        fields["knn_shapley"][i] = knn_shapley(features, labels, *scoring, config.knn_k).sum()
        fields["tune_knn_shapley"][i] = knn_shapley(features, labels, *tuning, config.knn_k).sum()
        fields["data_oob"][i] = np.nanmean(
            data_oob(features, labels, classes, config.oob_bags, config.knn_k, seed)
        )
    positions = {provider: position for position, provider in enumerate(trained)}
    return Assessment(fields, head, graphdef, [positions.get(i) for i in range(count)])


def check_validation(val_x, val_y, m_init: MInit) -> tuple[np.ndarray, np.ndarray]:
    val_x, val_y = np.asarray(val_x), np.asarray(val_y)
    expected = (m_init.arch.height, m_init.arch.width)
    if val_x.ndim != 3 or val_x.shape[1:] != expected or val_y.shape != (len(val_x),):
        raise QualityError(
            f"validation images must be (N, {expected[0]}, {expected[1]}) with N labels, got {val_x.shape} and {val_y.shape}"
        )
    if not np.all(np.isfinite(val_x)):
        raise QualityError("validation images must be finite numbers (found NaN or inf)")
    classes = len(m_init.task_classes)
    if (
        not np.issubdtype(val_y.dtype, np.integer)
        or val_y.min(initial=0) < 0
        or val_y.max(initial=0) >= classes
    ):
        raise QualityError(
            f"validation labels must be task indices 0..{classes - 1} ({', '.join(m_init.task_class_names)})"
        )
    return val_x.astype(np.float32), val_y.astype(np.int32)


def score_providers(
    secret_bytes: bytes,
    m_init_bytes: bytes,
    features: list[bytes],
    validation,
    config: QualityConfig | None = None,
    extractor_bytes: bytes | None = None,
):
    """Collector side: decode, fine-tune and score every provider's features; ranked list.

    `validation` is the collector's (images, labels) of the task classes, labels as task
    indices 0..n-1. Providers are ranked by `config.scorer`; see `scoring`.
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
    """`score_providers`, and each provider's M_eval checkpoint bytes (the first replica of
    its head at the learning rate and step the tuning split chose; None for a provider
    with no rows left to train on)."""
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
    classes = len(m_init.task_classes)
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
        labels = feature_set.labels
        if (
            not np.issubdtype(labels.dtype, np.integer)
            or labels.min() < 0
            or labels.max() >= classes
        ):
            raise QualityError(f"{name}: labels must be in 0..{classes - 1}")
        if not np.all(np.isfinite(feature_set.features)):
            raise QualityError(f"{name}: features must be finite numbers (found NaN or inf)")
        sets.append((feature_set.features.astype(np.float32), labels.astype(np.int32)))
    val_x, val_y = check_validation(*validation, m_init)
    assessment = assess(
        m_init,
        secret.depth,
        secret.secret,
        sets,
        (val_x, val_y),
        config,
        config.seed,
        keep_states=True,
    )
    m_evals = []
    chosen = assessment.head.choice()[0] if assessment.head is not None else None
    for provider, position in enumerate(assessment.trained):
        if position is None:
            m_evals.append(None)
            continue
        head = nnx.to_pure_dict(
            jax.tree.map(
                lambda leaf, p=position: np.asarray(leaf[p, chosen[p], 0]), assessment.head.states
            )
        )
        m_evals.append(
            checkpoints.dump(
                "m_eval",
                {
                    "architecture": m_init.arch.to_dict(),
                    "depth": secret.depth,
                    "num_classes": classes,
                    "task_class_names": list(m_init.task_class_names),
                    "m_init_sha256": m_init.sha256,
                    "features_sha256": checkpoints.content_hash(features[provider]),
                    "params": checkpoints.flatten_params(head),
                },
            )
        )
    return rank(assessment.fields, config.scorer, config.score_threshold), m_evals


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
