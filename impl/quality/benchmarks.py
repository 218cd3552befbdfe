"""The paper's evaluation (§5) on the digits task, or a user's data: selection accuracy,
sampling and depth sweeps, privacy, and speed. Every figure is a mean and a spread
(standard deviation) over seeds; a seed fixes the task split, M_init, the secret, the
corruptions, the samples and every initialisation.
"""

import time
from dataclasses import dataclass
from functools import cache

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from . import corruptions, pipeline
from .baselines import train_from_scratch
from .config import QualityConfig
from .data import Task, make_task
from .models import Architecture, Dense, after_layer
from .scoring import selection_accuracy
from .train import Hyper, evaluate, make_train_loop, make_train_step

METHODS = ("hyperx", "train_whole", "scratch_subset")
MAX_LEVELS = max(len(levels) for levels in corruptions.FAMILIES.values())


class Progress:
    """What benchmarks report while they run; the CLI passes a rich progress bar."""

    def start(self, description: str, total: int) -> None:
        pass

    def advance(self, steps: int = 1) -> None:
        pass


@dataclass
class Collector:
    """One seed's collector: its task, M_init and published extractor with secret."""

    task: Task
    m_init_bytes: bytes
    m_init: pipeline.MInit
    extractor_bytes: bytes
    secret: pipeline.CollectorSecret
    seed: int


def make_collector(x, y, config: QualityConfig, seed: int) -> Collector:
    task = make_task(x, y, config, seed)
    return publish_for(task, pipeline.pretrain(config, task, seed), config.extractor_depth, seed)


def publish_for(task: Task, m_init_bytes: bytes, depth: int, seed: int) -> Collector:
    extractor_bytes, secret_bytes = pipeline.publish(m_init_bytes, depth, seed)
    return Collector(
        task,
        m_init_bytes,
        pipeline.load_m_init(m_init_bytes),
        extractor_bytes,
        pipeline.load_secret(secret_bytes),
        seed,
    )


def sample_indices(n: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """SampleData: the collector picks round(fraction * n) entries (at least one)."""
    return np.sort(rng.choice(n, size=max(1, int(round(fraction * n))), replace=False))


def provider_features(collector: Collector, datasets, fraction: float, rng) -> tuple[list, list]:
    """Each provider extracts its sample through the obfuscated extractor (bytes and back)."""
    feature_sets, subsets = [], []
    for x, y in datasets:
        rows = sample_indices(len(x), fraction, rng)
        loaded = pipeline.load_features(
            pipeline.extract_features(collector.extractor_bytes, x, y, rows)
        )
        feature_sets.append((loaded.features, loaded.labels))
        subsets.append((x[rows], y[rows]))
    return feature_sets, subsets


def summarize(values) -> dict:
    values = np.asarray(values, float)
    return {
        "mean": float(values.mean()),
        "spread": float(values.std()),
        "per_seed": [float(v) for v in values],
    }


# ---------------------------------------------------------------- selection accuracy


def evaluate_family(collector: Collector, family: str, config: QualityConfig) -> dict:
    """Per-dataset (accuracy, loss) of the three methods for one family's levels."""
    task, seed = collector.task, collector.seed
    num_classes = len(config.task_classes)
    datasets = [
        corruptions.corrupt(task.pool_x, task.pool_y, family, level, seed, num_classes)
        for level in range(corruptions.num_levels(family))
    ]
    rng = np.random.default_rng([seed, 17, list(corruptions.FAMILIES).index(family)])
    feature_sets, subsets = provider_features(collector, datasets, config.sample_fraction, rng)
    validation = (task.validation_x, task.validation_y)
    # Every family and both baselines share one compiled program per method: pad to the
    # largest family and to the whole dataset's length (padded rows are never drawn).
    pad = {"rows": len(task.pool_x), "providers": MAX_LEVELS}
    results = {
        "hyperx": pipeline.finetune_and_score(
            collector.m_init,
            collector.secret.depth,
            collector.secret.secret,
            feature_sets,
            validation,
            config,
            seed,
            **pad,
        ),
        "train_whole": train_from_scratch(
            collector.m_init.arch, datasets, validation, config, seed, num_classes, **pad
        ),
        "scratch_subset": train_from_scratch(
            collector.m_init.arch, subsets, validation, config, seed, num_classes, **pad
        ),
    }
    return {method: (acc.mean(1), loss.mean(1)) for method, (acc, loss) in results.items()}


def bench_selection(
    x,
    y,
    config: QualityConfig,
    seeds: int,
    families=tuple(corruptions.FAMILIES),
    progress: Progress | None = None,
) -> dict:
    started = time.perf_counter()
    progress = progress or Progress()
    progress.start("selection", seeds * (1 + len(families)))
    per_seed = {family: [] for family in families}
    for seed in range(seeds):
        collector = make_collector(x, y, config, seed)
        progress.advance()
        for family in families:
            per_seed[family].append(evaluate_family(collector, family, config))
            progress.advance()
    report = {}
    for family, runs in per_seed.items():
        entry = {}
        for method in METHODS:
            fractions = [selection_accuracy(run[method][0], run[method][1])[0] for run in runs]
            entry[method] = float(np.mean(fractions))
            entry[f"{method}_spread"] = float(np.std(fractions))
            entry[f"{method}_per_seed"] = fractions
            entry[f"{method}_dataset_accuracy"] = np.mean(
                [run[method][0] for run in runs], axis=0
            ).tolist()
        entry["groups"] = selection_accuracy(runs[0]["hyperx"][0], runs[0]["hyperx"][1])[1]
        entry["levels"] = list(corruptions.FAMILIES[family])
        report[family] = entry
    return {"families": report, "seeds": seeds, "seconds": time.perf_counter() - started}


# ---------------------------------------------------------------- sweeps (Tables 5 and 6)


def bench_sampling(
    x,
    y,
    config: QualityConfig,
    seeds: int,
    fractions=(0.05, 0.1, 0.25, 0.5, 1.0),
    progress: Progress | None = None,
) -> dict:
    """M_eval validation accuracy on the uncorrupted dataset for several CF_% (Table 6)."""
    started = time.perf_counter()
    progress = progress or Progress()
    progress.start("sampling", seeds)
    accuracies = {f: [] for f in fractions}
    for seed in range(seeds):
        collector = make_collector(x, y, config, seed)
        task = collector.task
        rng = np.random.default_rng([seed, 23])
        for fraction in fractions:
            feature_sets, _ = provider_features(
                collector, [(task.pool_x, task.pool_y)], fraction, rng
            )
            acc, _ = pipeline.finetune_and_score(
                collector.m_init,
                collector.secret.depth,
                collector.secret.secret,
                feature_sets,
                (task.validation_x, task.validation_y),
                config,
                seed,
            )
            accuracies[fraction].append(float(acc.mean()))
        progress.advance()
    return {
        "sampling": {str(f): summarize(v) for f, v in accuracies.items()},
        "seeds": seeds,
        "seconds": time.perf_counter() - started,
    }


def bench_depth(
    x, y, config: QualityConfig, seeds: int, depths=(1, 2, 3), progress: Progress | None = None
) -> dict:
    """M_eval validation accuracy on the uncorrupted dataset for each extractor depth K (Table 5)."""
    started = time.perf_counter()
    progress = progress or Progress()
    progress.start("depth", seeds * len(depths))
    accuracies = {k: [] for k in depths}
    for seed in range(seeds):
        task = make_task(x, y, config, seed)
        m_init_bytes = pipeline.pretrain(config, task, seed)
        for depth in depths:
            collector = publish_for(task, m_init_bytes, depth, seed)
            rng = np.random.default_rng([seed, 29])
            feature_sets, _ = provider_features(
                collector, [(task.pool_x, task.pool_y)], config.sample_fraction, rng
            )
            acc, _ = pipeline.finetune_and_score(
                collector.m_init,
                depth,
                collector.secret.secret,
                feature_sets,
                (task.validation_x, task.validation_y),
                config,
                seed,
            )
            accuracies[depth].append(float(acc.mean()))
            progress.advance()
    return {
        "depth": {str(k): summarize(v) for k, v in accuracies.items()},
        "seeds": seeds,
        "seconds": time.perf_counter() - started,
    }


# ---------------------------------------------------------------- privacy (§5.2, Tables 3 and 4)


class Decoder(nnx.Module):
    """The inversion attacker's decoder: flattened features -> image (sigmoid grey levels)."""

    def __init__(self, feature_units: int, pixels: int, *, rngs: nnx.Rngs):
        self.hidden = Dense(feature_units, 256, rngs=rngs)
        self.out = Dense(256, pixels, rngs=rngs)

    def __call__(self, features):
        return jax.nn.sigmoid(self.out(jax.nn.relu(self.hidden(features))))


def mean_squared_error(outputs, targets):
    return jnp.mean((outputs - targets.reshape(outputs.shape)) ** 2)


def train_decoder(features: np.ndarray, images: np.ndarray, steps: int, seed: int):
    """Fit a decoder from (decoded) features to images on auxiliary data."""
    flat = features.reshape(len(features), -1)
    graphdef, state = nnx.split(Decoder(flat.shape[1], images[0].size, rngs=nnx.Rngs(seed)))
    optimizer, loop = make_train_loop(graphdef, Hyper(steps, 64, 1e-3), mean_squared_error)
    keys = jax.random.split(jax.random.key(seed), steps)
    state, _, _ = jax.jit(loop)(
        state,
        optimizer.init(state),
        jnp.asarray(flat),
        jnp.asarray(images.reshape(len(images), -1)),
        len(flat),
        keys,
    )
    return lambda f: np.asarray(
        nnx.merge(graphdef, state)(jnp.asarray(f.reshape(len(f), -1)))
    ).reshape(len(f), *images.shape[1:])


def inversion_attack(collector: Collector, config: QualityConfig, seed: int) -> dict:
    """Table 3: decode the target's features back to images with a decoder trained on
    auxiliary data, and let a well-trained 10-class classifier label what comes back."""
    task, m_init, depth = collector.task, collector.m_init, collector.secret.depth
    classes = np.asarray(config.pretrain_classes + config.task_classes)
    all_x = np.concatenate([task.pretrain_x, task.pool_x])
    all_y = np.concatenate(
        [
            np.asarray(config.pretrain_classes)[task.pretrain_y],
            np.asarray(config.task_classes)[task.pool_y],
        ]
    )
    classifier_arch = Architecture(
        m_init.arch.height,
        m_init.arch.width,
        m_init.arch.conv_channels,
        m_init.arch.hidden_units,
        int(classes.max()) + 1,
    )
    classifier = pipeline.build_model(
        classifier_arch, pipeline.pretrain_params(classifier_arch, all_x, all_y, config, seed + 101)
    )
    target_x = task.validation_x
    target_y = np.asarray(config.task_classes)[task.validation_y]

    def features_of(images):
        obfuscated = pipeline.run_extractor(
            m_init.arch, depth, pipeline.load_extractor(collector.extractor_bytes).params, images
        )
        return (obfuscated - collector.secret.secret.sigma) / collector.secret.secret.delta

    rng = np.random.default_rng([seed, 31])
    auxiliaries = {
        "digits_of_pretrain_classes": task.pretrain_x,
        "sample_photo_patches": corruptions.irrelevant_images(
            len(task.pretrain_x), *task.image_shape, rng
        ),
    }
    target_features = features_of(target_x)
    report = {
        "classifier_accuracy_on_originals": pipeline.accuracy(classifier, target_x, target_y),
        "chance": 1.0 / len(classes),
    }
    for name, aux in auxiliaries.items():
        decode = train_decoder(features_of(aux), aux, config.pretrain_steps * 3, seed)
        recovered = np.clip(decode(target_features), 0, 1)
        report[name] = {
            "classifier_accuracy_on_recovered": pipeline.accuracy(classifier, recovered, target_y),
            "reconstruction_mse": float(np.mean((recovered - target_x) ** 2)),
        }
    return report


def obfuscation_effect(collector: Collector, deltas=(1.0, 0.005, 0.05, 5.0, 50.0)) -> dict:
    """Table 4: M_init's accuracy on its own test split when the extractor's last layer is
    used as published (scaled by delta, without decoding)."""
    task, m_init, depth = collector.task, collector.m_init, collector.secret.depth
    layer = m_init.params["layers"][depth - 1]
    report = {}
    for delta in deltas:
        params = {"layers": dict(m_init.params["layers"])}
        params["layers"][depth - 1] = {
            "kernel": layer["kernel"] * delta,
            "bias": layer["bias"] * delta,
        }
        report[str(delta)] = pipeline.accuracy(
            pipeline.build_model(m_init.arch, params), task.pretrain_test_x, task.pretrain_test_y
        )
    secret = collector.secret.secret
    params = {"layers": dict(m_init.params["layers"])}
    params["layers"][depth - 1] = {
        "kernel": layer["kernel"] * secret.delta,
        "bias": layer["bias"] * secret.delta + secret.sigma,
    }
    report["published_secret"] = pipeline.accuracy(
        pipeline.build_model(m_init.arch, params), task.pretrain_test_x, task.pretrain_test_y
    )
    return report


def bench_privacy(
    x, y, config: QualityConfig, seeds: int, progress: Progress | None = None
) -> dict:
    started = time.perf_counter()
    progress = progress or Progress()
    progress.start("privacy", seeds)
    attacks, effects = [], []
    for seed in range(seeds):
        collector = make_collector(x, y, config, seed)
        attacks.append(inversion_attack(collector, config, seed))
        effects.append(obfuscation_effect(collector))
        progress.advance()
    inversion = {
        "chance": attacks[0]["chance"],
        "classifier_accuracy_on_originals": summarize(
            [a["classifier_accuracy_on_originals"] for a in attacks]
        ),
    }
    for name in ("digits_of_pretrain_classes", "sample_photo_patches"):
        inversion[name] = {
            field: summarize([a[name][field] for a in attacks]) for field in attacks[0][name]
        }
    obfuscation = {key: summarize([e[key] for e in effects]) for key in effects[0]}
    return {
        "inversion": inversion,
        "obfuscation": obfuscation,
        "seeds": seeds,
        "seconds": time.perf_counter() - started,
    }


# ---------------------------------------------------------------- speed


@cache
def conventional_programs(graphdef: nnx.GraphDef, hyper: Hyper):
    """The baseline's jitted step and scoring, compiled once and reused like Keras does."""
    optimizer, step = make_train_step(graphdef, hyper)
    return (
        optimizer,
        jax.jit(step),
        jax.jit(lambda state, vx, vy: evaluate(graphdef, state, vx, vy)),
    )


def conventional_finetune(
    m_init: pipeline.MInit,
    depth: int,
    secret,
    feature_sets,
    validation,
    config: QualityConfig,
    seed: int,
):
    """The baseline of `bench speed`: the way Keras `fit` runs. A jitted train step called
    from a Python loop once per minibatch, one fine-tune after another, provider after
    provider; same head, optimizer, steps, batch size and number of fine-tunes."""
    graphdef, states = pipeline.head_states(m_init, depth, config.finetunes_per_dataset, seed)
    hyper = Hyper(config.finetune_steps, config.finetune_batch, config.finetune_learning_rate)
    optimizer, step, score = conventional_programs(graphdef, hyper)
    val_features = after_layer(depth, pipeline.collector_features(m_init, depth, validation[0]))
    val_y = jnp.asarray(validation[1])
    rng = np.random.default_rng(seed)
    accuracy = np.zeros((len(feature_sets), config.finetunes_per_dataset))
    for provider, (features, labels) in enumerate(feature_sets):
        activated = np.asarray(after_layer(depth, (features - secret.sigma) / secret.delta))
        for replica in range(config.finetunes_per_dataset):
            state = jax.tree.map(lambda leaf, r=replica: leaf[r], states)
            opt_state = optimizer.init(state)
            for _ in range(hyper.steps):
                rows = rng.integers(len(activated), size=hyper.batch)
                state, opt_state, _ = step(state, opt_state, activated[rows], labels[rows])
            accuracy[provider, replica] = float(score(state, val_features, val_y)[0])
    return accuracy


def best_of(repeats: int, run) -> tuple[float, float]:
    """The fastest of `repeats` timed runs, as (wall seconds, CPU seconds of this process).

    On a shared machine other processes only add to the wall time; the CPU time counts
    this process's work on every core it used (on a GPU it misses the device's work).
    """
    walls, cpus = [], []
    for _ in range(repeats):
        tick, cpu = time.perf_counter(), time.process_time()
        jax.block_until_ready(run())
        walls.append(time.perf_counter() - tick)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def bench_speed(
    x,
    y,
    config: QualityConfig,
    provider_counts=(1, 11),
    repeats: int = 3,
    progress: Progress | None = None,
) -> dict:
    """Warm wall time to evaluate N providers: our compiled program vs the conventional loop."""
    started = time.perf_counter()
    collector = make_collector(x, y, config, 0)
    task = collector.task
    levels = corruptions.num_levels("mislabel")
    datasets = [
        corruptions.corrupt(
            task.pool_x, task.pool_y, "mislabel", i % levels, 0, len(config.task_classes)
        )
        for i in range(max(provider_counts))
    ]
    feature_sets, _ = provider_features(
        collector, datasets, config.sample_fraction, np.random.default_rng(0)
    )
    validation = (task.validation_x, task.validation_y)
    secret, depth = collector.secret.secret, collector.secret.depth
    progress = progress or Progress()
    progress.start("speed", 2 * len(provider_counts))
    compiled, conventional, compiled_cpu, conventional_cpu = {}, {}, {}, {}
    for count in provider_counts:
        sets = feature_sets[:count]
        pipeline.finetune_and_score(
            collector.m_init, depth, secret, sets, validation, config, 0
        )  # compile
        compiled[str(count)], compiled_cpu[str(count)] = best_of(
            repeats,
            lambda s=sets: pipeline.finetune_and_score(
                collector.m_init, depth, secret, s, validation, config, 0
            ),
        )
        progress.advance()
        conventional_finetune(
            collector.m_init,
            depth,
            secret,
            sets[:1],
            validation,
            config.replace(finetune_steps=1),
            0,
        )  # compile
        conventional[str(count)], conventional_cpu[str(count)] = best_of(
            repeats,
            lambda s=sets: conventional_finetune(
                collector.m_init, depth, secret, s, validation, config, 0
            ),
        )
        progress.advance()
    return {
        "seconds": compiled,
        "baseline_seconds": conventional,
        "speedup": {k: conventional[k] / compiled[k] for k in compiled},
        "cpu_seconds": compiled_cpu,
        "baseline_cpu_seconds": conventional_cpu,
        "cpu_speedup": {k: conventional_cpu[k] / compiled_cpu[k] for k in compiled},
        "extractor_depth": depth,
        "device": "gpu" if jax.default_backend() == "gpu" else jax.default_backend(),
        "repeats": repeats,
        "total_seconds": time.perf_counter() - started,
    }
