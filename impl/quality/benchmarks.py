"""The paper's evaluation (§5) on an embedded task or a user's data: selection accuracy,
sampling and depth sweeps, privacy, and speed.

A seed fixes the task split, M_init, the corruptions, the samples and every
initialisation (not the secret (delta, sigma), which comes from the OS; decoding is
exact, so it changes figures only by float rounding). Figures are means over seeds
with 95% bootstrap intervals (`stats`). Nothing here is chosen by looking at the
scoring split: learning rates, steps and the scorer come from the tuning split.
"""

import os
import resource
import time
from dataclasses import dataclass
from functools import cache

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from . import corruptions, pipeline, scoring, stats
from .baselines import train_from_scratch
from .config import QualityConfig
from .data import Labelled, Task, make_task
from .models import Architecture, Dense
from .train import (
    Budget,
    Hyper,
    chunked,
    compiled_fit,
    eval_chunk,
    evaluate,
    fit,
    make_train_loop,
    make_train_step,
)

BASELINES = ("train_whole", "scratch_subset")
MAX_LEVELS = max(len(levels) for levels in corruptions.FAMILIES.values())
# The goals, checked in every selection report: HyperX >= Train-Whole - 0.03 and
# HyperX >= Scratch-Subset, per family.
GOAL_MARGIN = {"train_whole": -0.03, "scratch_subset": 0.0}


class Progress:
    """What benchmarks report while they run; the CLI passes a rich progress bar."""

    def start(self, description: str, total: int) -> None:
        pass

    def advance(self, steps: int = 1) -> None:
        pass


class Clock:
    """Wall and CPU seconds of this process since creation (CPU: user + system, all threads)."""

    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), self._cpu()

    @staticmethod
    def _cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def report(self) -> dict:
        """Seconds, CPU seconds and peak memory so far, and the machine's load average:
        on a shared machine other processes stretch the wall time, not the CPU time."""
        return {
            "seconds": time.perf_counter() - self.wall,
            "cpu_seconds": self._cpu() - self.cpu,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "load_average": [round(v, 2) for v in os.getloadavg()],
            "cpu_cores": len(os.sched_getaffinity(0)),
        }


@dataclass
class Collector:
    """One seed's collector: its task, M_init and published extractor with secret."""

    task: Task
    m_init_bytes: bytes
    m_init: pipeline.MInit
    extractor_bytes: bytes
    secret: pipeline.CollectorSecret
    seed: int

    @property
    def validation(self) -> tuple[np.ndarray, np.ndarray]:
        return self.task.validation_x, self.task.validation_y

    def splits(self, config: QualityConfig) -> tuple[tuple, tuple]:
        """The validation set's (tuning, scoring) parts, as the assessor splits it."""
        x, y = self.validation
        tune, score = pipeline.split_validation(y, config.tuning_fraction, self.seed)
        return (x[tune], y[tune]), (x[score], y[score])


def limit_task(task: Task, pool: int | None, validation: int | None, seed: int) -> Task:
    """The task with its pool and validation set cut to random subsets of at most the given
    sizes (benchmarks on large data: training cost grows with steps, evaluation with rows)."""
    rng = np.random.default_rng([seed, 41])

    def cut(x, y, size):
        if size is None or size >= len(x):
            return x, y
        rows = np.sort(rng.choice(len(x), size, replace=False))
        return x[rows], y[rows]

    pool_x, pool_y = cut(task.pool_x, task.pool_y, pool)
    val_x, val_y = cut(task.validation_x, task.validation_y, validation)
    return Task(
        task.pretrain_x,
        task.pretrain_y,
        task.pretrain_test_x,
        task.pretrain_test_y,
        pool_x,
        pool_y,
        val_x,
        val_y,
        task.pretrain_class_names,
        task.task_class_names,
    )


def make_task_for(labelled: Labelled, config: QualityConfig, seed: int, sizes=(None, None)) -> Task:
    task = make_task(labelled.x, labelled.y, config, seed, labelled.names)
    return limit_task(task, *sizes, seed)


def make_collector(labelled: Labelled, config: QualityConfig, seed: int, sizes=(None, None)):
    task = make_task_for(labelled, config, seed, sizes)
    return publish_for(task, pipeline.pretrain(config, task, seed), config.extractor_depth, seed)


def publish_for(task: Task, m_init_bytes: bytes, depth: int, seed: int) -> Collector:
    extractor_bytes, secret_bytes = pipeline.publish(m_init_bytes, depth)
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


def assess(collector: Collector, feature_sets, config: QualityConfig, **pad) -> pipeline.Assessment:
    return pipeline.assess(
        collector.m_init,
        collector.secret.depth,
        collector.secret.secret,
        feature_sets,
        collector.validation,
        config,
        collector.seed,
        **pad,
    )


# ---------------------------------------------------------------- selection accuracy


def method_name(scorer: str) -> str:
    return f"hyperx:{scorer}"


def evaluate_family(collector: Collector, family: str, config: QualityConfig) -> dict:
    """Per dataset (corruption level) and method: the score and its tie-breaker on the
    scoring split, the same on the tuning split (HyperX's scorers), and the learning rate
    and steps the tuning split chose."""
    task, seed = collector.task, collector.seed
    num_classes = len(config.task_classes)
    datasets = [
        corruptions.corrupt(task.pool_x, task.pool_y, family, level, seed, num_classes)
        for level in range(corruptions.num_levels(family))
    ]
    rng = np.random.default_rng([seed, 17, list(corruptions.FAMILIES).index(family)])
    feature_sets, subsets = provider_features(collector, datasets, config.sample_fraction, rng)
    # Every family and both baselines share one compiled program per method: pad to the
    # largest family and to the whole dataset's length (padded rows are never drawn).
    pad = {"rows": len(task.pool_x), "providers": MAX_LEVELS}
    assessment = assess(collector, feature_sets, config, **pad)
    fields = assessment.fields
    tuning_fields = {
        "head": fields["tune_head"],
        "knn_shapley": fields["tune_knn_shapley"],
        "data_oob": fields["data_oob"],
    }
    record = {"scoring": {}, "tuning": {}, "choices": {}}
    for scorer in scoring.SCORERS:
        record["scoring"][method_name(scorer)] = (scoring.combine(scorer, fields), fields["loss"])
        record["tuning"][method_name(scorer)] = (
            scoring.combine(scorer, tuning_fields),
            fields["tune_loss"],
        )
    head_choice = {"learning_rate": fields["learning_rate"], "steps": fields["steps"]}
    for scorer in scoring.SCORERS:
        record["choices"][method_name(scorer)] = head_choice
    tuning, scoring_split = collector.splits(config)
    for method, data in (("train_whole", datasets), ("scratch_subset", subsets)):
        chosen = train_from_scratch(
            collector.m_init.arch, data, tuning, scoring_split, config, seed, num_classes, **pad
        ).chosen()
        record["scoring"][method] = (
            chosen["score_accuracy"].mean(1),
            chosen["score_loss"].mean(1),
        )
        record["choices"][method] = {
            "learning_rate": chosen["learning_rate"],
            "steps": chosen["steps"],
        }
    return record


def choices_summary(choices: list[dict]) -> dict:
    rates = np.concatenate([c["learning_rate"] for c in choices])
    steps = np.concatenate([c["steps"] for c in choices])
    values, counts = np.unique(rates[np.isfinite(rates)], return_counts=True)
    return {
        "learning_rate_counts": {f"{v:g}": int(c) for v, c in zip(values, counts, strict=True)},
        "steps_mean": float(steps.mean()),
        "steps_quartiles": [float(q) for q in np.quantile(steps, [0.25, 0.5, 0.75])],
    }


def summarize_method(runs: list[dict], method: str, split: str = "scoring") -> dict:
    """Selection accuracy, Kendall tau with the level, and per-level scores over seeds."""
    hits = [scoring.group_hits(*run[split][method]) for run in runs]
    scores = np.asarray([run[split][method][0] for run in runs])
    entry = {
        "selection": stats.summarize([h.mean() for h in hits]),
        "kendall_tau": stats.summarize([stats.kendall_tau_with_level(s) for s in scores]),
        "dataset_score": {
            "mean": scores.mean(0).tolist(),
            "ci95": [stats.bootstrap_interval(column) for column in scores.T],
        },
    }
    if split == "scoring":
        entry["chosen"] = choices_summary([run["choices"][method] for run in runs])
    return entry


def paired_against(runs: list[dict], method: str, baseline: str) -> dict:
    """HyperX against a baseline on the same seeds and groups."""
    ours = [scoring.group_hits(*run["scoring"][method]) for run in runs]
    theirs = [scoring.group_hits(*run["scoring"][baseline]) for run in runs]
    difference = stats.summarize([a.mean() - b.mean() for a, b in zip(ours, theirs, strict=True)])
    margin = GOAL_MARGIN[baseline]
    return {
        **stats.paired(np.concatenate(ours), np.concatenate(theirs)),
        "difference": difference,
        "goal": f"HyperX - {baseline} >= {margin}",
        "goal_met_on_mean": difference["mean"] >= margin,
        "goal_met_with_interval": difference["ci95"][0] >= margin,
    }


def bench_selection(
    labelled: Labelled,
    config: QualityConfig,
    seeds: int,
    families=tuple(corruptions.FAMILIES),
    progress: Progress | None = None,
    sizes=(None, None),
    task_name: str = "digits",
) -> dict:
    clock = Clock()
    runs = selection_runs(labelled, config, range(seeds), families, progress, sizes)
    return {**selection_report(runs, config, task_name), **clock.report()}


def selection_runs(
    labelled: Labelled,
    config: QualityConfig,
    seeds=range(10),
    families=tuple(corruptions.FAMILIES),
    progress: Progress | None = None,
    sizes=(None, None),
) -> dict[str, list[dict]]:
    """Per family, one `evaluate_family` record per seed. Seeds are independent, so runs of
    disjoint seed ranges (in separate processes) concatenate into one report."""
    progress = progress or Progress()
    progress.start("selection", len(seeds) * (1 + len(families)))
    runs = {family: [] for family in families}
    for seed in seeds:
        collector = make_collector(labelled, config, seed, sizes)
        progress.advance()
        for family in families:
            runs[family].append(evaluate_family(collector, family, config))
            progress.advance()
    return runs


def selection_report(runs: dict[str, list[dict]], config: QualityConfig, task_name: str) -> dict:
    """`bench selection`'s figures from the runs of every seed."""
    families = tuple(runs)
    seeds = len(next(iter(runs.values())))
    hyperx = method_name(config.scorer)
    report = {}
    for family, family_runs in runs.items():
        methods = {"hyperx": summarize_method(family_runs, hyperx)}
        for baseline in BASELINES:
            methods[baseline] = summarize_method(family_runs, baseline)
        for scorer in scoring.SCORERS:
            methods[method_name(scorer)] = summarize_method(family_runs, method_name(scorer))
        report[family] = {
            "groups": len(scoring.group_hits(*family_runs[0]["scoring"][hyperx])),
            "levels": list(corruptions.FAMILIES[family]),
            "methods": methods,
            "paired": {b: paired_against(family_runs, hyperx, b) for b in BASELINES},
            "tuning_split": {
                scorer: summarize_method(family_runs, method_name(scorer), "tuning")["selection"]
                for scorer in scoring.SCORERS
            },
        }
    on_tuning = {
        scorer: float(np.mean([report[f]["tuning_split"][scorer]["mean"] for f in families]))
        for scorer in scoring.SCORERS
    }
    return {
        "task": task_name,
        "scorer": config.scorer,
        "scorer_on_tuning_split": max(scoring.SCORERS, key=lambda s: on_tuning[s]),
        "tuning_split_selection": on_tuning,
        "budget": {
            **config.budget().to_dict(),
            "replicas": config.replicas,
            "rule": "per dataset and method: the learning rate and checkpoint with the highest "
            "tuning-split accuracy (then lower tuning loss, fewer steps, smaller rate)",
            "tuning_fraction": config.tuning_fraction,
        },
        "extractor_depth": config.extractor_depth,
        "sample_fraction": config.sample_fraction,
        "families": report,
        "seeds": seeds,
    }


# ---------------------------------------------------------------- sweeps (Tables 5 and 6)


def scratch_accuracy(collector: Collector, subsets, config: QualityConfig) -> np.ndarray:
    tuning, scoring_split = collector.splits(config)
    chosen = train_from_scratch(
        collector.m_init.arch,
        subsets,
        tuning,
        scoring_split,
        config,
        collector.seed,
        len(config.task_classes),
    ).chosen()
    return chosen["score_accuracy"].mean(1)


def bench_sampling(
    labelled: Labelled,
    config: QualityConfig,
    seeds: int,
    fractions=(0.05, 0.1, 0.25, 0.5, 1.0),
    progress: Progress | None = None,
    sizes=(None, None),
) -> dict:
    """M_eval scoring-split accuracy on the uncorrupted dataset for several CF_% (Table 6),
    and the same CNN trained from scratch on the same sample (Scratch-Subset)."""
    clock = Clock()
    progress = progress or Progress()
    progress.start("sampling", seeds)
    head = {f: [] for f in fractions}
    scratch = {f: [] for f in fractions}
    for seed in range(seeds):
        collector = make_collector(labelled, config, seed, sizes)
        task = collector.task
        rng = np.random.default_rng([seed, 23])
        for fraction in fractions:
            feature_sets, subsets = provider_features(
                collector, [(task.pool_x, task.pool_y)], fraction, rng
            )
            head[fraction].append(float(assess(collector, feature_sets, config).fields["head"][0]))
            scratch[fraction].append(float(scratch_accuracy(collector, subsets, config)[0]))
        progress.advance()
    return {
        "sampling": {str(f): stats.summarize(v) for f, v in head.items()},
        "scratch_subset": {str(f): stats.summarize(v) for f, v in scratch.items()},
        "seeds": seeds,
        **clock.report(),
    }


def bench_depth(
    labelled: Labelled,
    config: QualityConfig,
    seeds: int,
    depths=(1, 2, 3),
    progress: Progress | None = None,
    sizes=(None, None),
) -> dict:
    """M_eval scoring-split accuracy on the uncorrupted dataset for each extractor depth K
    (Table 5), beside a CNN trained from scratch on the same sample: transfer helps when
    the head on M_init's features beats it."""
    clock = Clock()
    progress = progress or Progress()
    progress.start("depth", seeds * len(depths))
    head = {k: [] for k in depths}
    scratch = []
    for seed in range(seeds):
        task = make_task_for(labelled, config, seed, sizes)
        m_init_bytes = pipeline.pretrain(config, task, seed)
        for depth in depths:
            collector = publish_for(task, m_init_bytes, depth, seed)
            rng = np.random.default_rng([seed, 29])
            feature_sets, subsets = provider_features(
                collector, [(task.pool_x, task.pool_y)], config.sample_fraction, rng
            )
            head[depth].append(float(assess(collector, feature_sets, config).fields["head"][0]))
            progress.advance()
        scratch.append(float(scratch_accuracy(collector, subsets, config)[0]))
    return {
        "depth": {str(k): stats.summarize(v) for k, v in head.items()},
        "scratch_subset": stats.summarize(scratch),
        "sample_fraction": config.sample_fraction,
        "seeds": seeds,
        **clock.report(),
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
    decode = jax.jit(lambda f: nnx.merge(graphdef, state)(f))

    def recover(f):
        out = [
            np.asarray(decode(f[s : s + 1024].reshape(len(f[s : s + 1024]), -1)))
            for s in range(0, len(f), 1024)
        ]
        return np.concatenate(out).reshape(len(f), *images.shape[1:])

    return recover


def inversion_attack(collector: Collector, config: QualityConfig, seed: int) -> dict:
    """Table 3: decode the target's features back to images with a decoder trained on
    auxiliary data, and let a well-trained classifier of every class label what comes back."""
    task, m_init, depth = collector.task, collector.m_init, collector.secret.depth
    classes = np.asarray(config.pretrain_classes + config.task_classes)
    all_x = np.concatenate([task.pretrain_x, task.pool_x])
    all_y = np.concatenate([task.pretrain_y, len(config.pretrain_classes) + task.pool_y])
    classifier_arch = Architecture(
        m_init.arch.height,
        m_init.arch.width,
        m_init.arch.conv_channels,
        m_init.arch.hidden_units,
        len(classes),
    )
    classifier = pipeline.build_model(
        classifier_arch, pipeline.pretrain_params(classifier_arch, all_x, all_y, config, seed + 101)
    )
    target_x = task.validation_x
    target_y = len(config.pretrain_classes) + task.validation_y
    extractor = pipeline.load_extractor(collector.extractor_bytes)

    def features_of(images):
        obfuscated = pipeline.run_extractor(m_init.arch, depth, extractor.params, images)
        return (obfuscated - collector.secret.secret.sigma) / collector.secret.secret.delta

    rng = np.random.default_rng([seed, 31])
    auxiliaries = {
        "pretrain_classes": task.pretrain_x,
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
    labelled: Labelled,
    config: QualityConfig,
    seeds: int,
    progress: Progress | None = None,
    sizes=(None, None),
) -> dict:
    clock = Clock()
    progress = progress or Progress()
    progress.start("privacy", seeds)
    attacks, effects = [], []
    for seed in range(seeds):
        collector = make_collector(labelled, config, seed, sizes)
        attacks.append(inversion_attack(collector, config, seed))
        effects.append(obfuscation_effect(collector))
        progress.advance()
    inversion = {
        "chance": attacks[0]["chance"],
        "classifier_accuracy_on_originals": stats.summarize(
            [a["classifier_accuracy_on_originals"] for a in attacks]
        ),
    }
    for name in ("pretrain_classes", "sample_photo_patches"):
        inversion[name] = {
            field: stats.summarize([a[name][field] for a in attacks]) for field in attacks[0][name]
        }
    return {
        "inversion": inversion,
        "obfuscation": {key: stats.summarize([e[key] for e in effects]) for key in effects[0]},
        "extractor_depth": config.extractor_depth,
        "seeds": seeds,
        **clock.report(),
    }


# ---------------------------------------------------------------- speed


@cache
def per_batch_programs(graphdef: nnx.GraphDef):
    """The per-batch baseline's jitted programs: one Adam step (the learning rate is an
    argument, so every rate shares one compilation) and one evaluation."""

    def step(state, opt_state, xb, yb, learning_rate):
        return make_train_step(graphdef, optax.adam(learning_rate))(state, opt_state, xb, yb)

    return (
        jax.jit(step),
        jax.jit(lambda state, labelled: evaluate(graphdef, state, labelled)),
        jax.jit(optax.adam(1e-3).init),
    )


def per_batch_fit(graphdef, states, datasets, tuning, scoring_split, budget, seed: int):
    """The `bench speed` baseline the way Keras `fit` runs: a jitted step called from a
    Python loop once per minibatch, every model after another, scored on both splits every
    `eval_every` steps; the same models, budget and evaluations as `fit`."""
    step, score, init = per_batch_programs(graphdef)
    rng = np.random.default_rng(seed)
    replicas = jax.tree.leaves(states)[0].shape[0]
    figures = []
    for x, y in datasets:
        for rate in budget.learning_rates:
            for replica in range(replicas):
                state = jax.tree.map(lambda leaf, r=replica: leaf[r], states)
                opt_state = init(state)
                for done in range(1, budget.max_steps + 1):
                    rows = rng.integers(len(x), size=budget.batch)
                    state, opt_state, _ = step(state, opt_state, x[rows], y[rows], rate)
                    if done % budget.eval_every == 0:
                        figures.append((score(state, tuning), score(state, scoring_split)))
    return figures


def timed(repeats: int, run, programs=()) -> dict:
    """The fastest of `repeats` runs after the caller's warm-up: wall and CPU seconds of this
    process, and how many compilations happened while timing (0 when the warm-up compiled
    exactly the timed programs)."""
    cache_sizes = [p._cache_size() for p in programs]
    walls, cpus = [], []
    for _ in range(repeats):
        tick, cpu = time.perf_counter(), Clock._cpu()
        jax.block_until_ready(run())
        walls.append(time.perf_counter() - tick)
        cpus.append(Clock._cpu() - cpu)
    compiled = sum(p._cache_size() - s for p, s in zip(programs, cache_sizes, strict=True))
    return {"seconds": min(walls), "cpu_seconds": min(cpus), "compilations_while_timing": compiled}


def bench_speed(
    labelled: Labelled,
    config: QualityConfig,
    provider_counts=(1, 11, 64),
    repeats: int = 3,
    progress: Progress | None = None,
    per_batch_up_to: int = 11,
) -> dict:
    """Warm time to fine-tune M_eval heads for N providers three ways, on the same decoded
    features, budget and evaluations: one compiled program (providers a vmapped and
    sharded axis), one compiled program per provider called from a Python loop
    (scan-per-provider), and a jitted step per minibatch (per-batch loop, only up to
    `per_batch_up_to` providers: it is the slowest by far)."""
    clock = Clock()
    collector = make_collector(labelled, config, 0)
    task = collector.task
    levels = corruptions.num_levels("mislabel")
    count = max(provider_counts)
    datasets = [
        corruptions.corrupt(
            task.pool_x, task.pool_y, "mislabel", i % levels, i // levels, len(config.task_classes)
        )
        for i in range(count)
    ]
    feature_sets, _ = provider_features(
        collector, datasets, config.sample_fraction, np.random.default_rng(0)
    )
    depth, secret = collector.secret.depth, collector.secret.secret
    decoded = [
        (pipeline.activate(depth, np.asarray((f - secret.sigma) / secret.delta)), y)
        for f, y in feature_sets
    ]
    tuning, scoring_split = collector.splits(config)
    tuning = (
        pipeline.activate(depth, pipeline.collector_features(collector.m_init, depth, tuning[0])),
        tuning[1],
    )
    scoring_split = (
        pipeline.activate(
            depth, pipeline.collector_features(collector.m_init, depth, scoring_split[0])
        ),
        scoring_split[1],
    )
    graphdef, states = pipeline.head_states(collector.m_init, depth, config.replicas, 0)
    keys = pipeline.replica_keys(7919, config.replicas)
    budget = config.budget()
    program = compiled_fit(graphdef, budget, False)
    progress = progress or Progress()
    progress.start("speed", 3 * len(provider_counts))

    def one_program(sets):
        return fit(graphdef, states, keys, sets, tuning, scoring_split, budget).score_accuracy

    chunk = eval_chunk(tuning[0].shape[1:], 1, len(tuning[0]))
    tuning_set, scoring_set = chunked(*tuning, chunk), chunked(*scoring_split, chunk)

    def scan_per_provider(sets):
        return [one_program([s]) for s in sets]

    report = {"one_program": {}, "scan_per_provider": {}, "per_batch": {}}
    for n in provider_counts:
        sets = decoded[:n]
        one_program(sets)  # warm-up: exactly the timed program (n providers)
        report["one_program"][str(n)] = timed(repeats, lambda s=sets: one_program(s), [program])
        progress.advance()
        one_program(sets[:1])  # warm-up: the one-provider program of the loop
        report["scan_per_provider"][str(n)] = timed(
            repeats, lambda s=sets: scan_per_provider(s), [program]
        )
        progress.advance()
        if n <= per_batch_up_to:
            step, score, init = per_batch_programs(graphdef)
            # warm-up: the step, the optimizer's init and both evaluations, the timed shapes
            # (two steps: the second call sees the first one's outputs, typed as in the loop)
            warm = Budget(budget.learning_rates[:1], 2, 2, budget.batch)
            per_batch_fit(graphdef, states, sets[:1], tuning_set, scoring_set, warm, 0)
            report["per_batch"][str(n)] = timed(
                1,
                lambda s=sets: per_batch_fit(
                    graphdef, states, s, tuning_set, scoring_set, budget, 0
                ),
                [step, score, init],
            )
        progress.advance()
    ratios = {}
    for n in map(str, provider_counts):
        one = report["one_program"][n]
        ratio = {
            "against_scan_per_provider": report["scan_per_provider"][n]["seconds"] / one["seconds"],
            "against_scan_per_provider_cpu": report["scan_per_provider"][n]["cpu_seconds"]
            / one["cpu_seconds"],
            "relative_to_one_provider": one["seconds"]
            / report["one_program"][str(provider_counts[0])]["seconds"],
        }
        if n in report["per_batch"]:
            ratio["against_per_batch"] = report["per_batch"][n]["seconds"] / one["seconds"]
            ratio["against_per_batch_cpu"] = (
                report["per_batch"][n]["cpu_seconds"] / one["cpu_seconds"]
            )
        ratios[n] = ratio
    return {
        **report,
        "ratios": ratios,
        "budget": {**budget.to_dict(), "replicas": config.replicas},
        "rows_per_provider": len(decoded[0][1]),
        "extractor_depth": depth,
        "devices": [str(d) for d in jax.devices()],
        "device": jax.default_backend(),
        "repeats": repeats,
        **clock.report(),
    }
