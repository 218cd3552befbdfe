"""`hyperx-eval`: the standalone quality assessor for ML engineers (no chain, no web3).

A thin entry point over `pipeline` and `benchmarks`; every command takes `--json`.
Labels in the files a user hands in are the user's own (integers or class folder
names); the class names travel inside the checkpoints and map them to the task.
"""

import functools
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import benchmarks, checkpoints, corruptions, data, pipeline, scoring
from .config import QualityConfig
from .errors import QualityError

app = typer.Typer(
    help="HyperX privacy-preserving data quality assessment (paper §3.1.1, §3.2, §5).",
    no_args_is_help=True,
    add_completion=False,
)
bench_app = typer.Typer(
    help="The paper's evaluation: selection, sampling, depth, privacy, speed.", no_args_is_help=True
)
app.add_typer(bench_app, name="bench")

out = Console()
err = Console(stderr=True)

# The embedded tasks, each with the config its figures are made with.
TASKS = {"digits": QualityConfig.default, "glyphs": QualityConfig.glyphs}

JSON = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
DATASET = Annotated[
    str,
    typer.Option(
        "--dataset",
        help="digits (scikit-learn's 8x8 digits) or glyphs (generated 28x28 glyphs); ignored with --data-dir.",
    ),
]
DATA_DIR = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Your data: MNIST idx files (raw or .gz), an .npz with x/y, or one folder per class.",
    ),
]
PRETRAIN_CLASSES = Annotated[
    str | None,
    typer.Option("--pretrain-classes", help="Classes M_init learns, by name, e.g. 0,1,2,3,4."),
]
TASK_CLASSES = Annotated[
    str | None,
    typer.Option("--task-classes", help="Classes the collector recruits, by name, e.g. 5,6,7,8,9."),
]
TINY = Annotated[
    bool, typer.Option("--tiny", help="A small model and short runs (smoke runs, not figures).")
]
SEED = Annotated[
    int,
    typer.Option(
        "--seed", help="Seed of the split, the training and the data order (never of the secret)."
    ),
]


def handle_errors(command):
    """Bad input ends with a one-line message and exit code 2, a failure at run time with
    exit code 1; never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except QualityError as error:
            fail(str(error), 2)
        except OSError as error:
            where = f"{error.filename}: " if error.filename else ""
            fail(f"{where}{error.strerror or error}", 2)
        except MemoryError:
            fail("out of memory; try --pool-size / --validation-size or fewer --providers", 1)

    return wrapper


def fail(message: str, code: int):
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True, markup=True)
    raise typer.Exit(code)


def make_config(
    tiny: bool, seed: int = 0, depth: int | None = None, task: str = "digits"
) -> QualityConfig:
    config = TASKS[task]() if task in TASKS else QualityConfig.default()
    if tiny:
        tiny_fields = QualityConfig.tiny()
        config = config.replace(
            **{
                f: getattr(tiny_fields, f)
                for f in (
                    "conv_channels",
                    "hidden_units",
                    "pretrain_steps",
                    "max_steps",
                    "eval_every",
                    "oob_bags",
                )
            }
        )
    config = config.replace(seed=seed)
    if depth is not None:
        pipeline.check_depth(depth)
        config = config.replace(extractor_depth=depth)
    return config


def load_source(dataset: str, data_dir: Path | None) -> data.Labelled:
    """The embedded task's images, or the user's data."""
    if data_dir is not None:
        return data.load_labelled(data_dir)
    if dataset == "digits":
        return data.numbered(*data.load_digits_images())
    if dataset == "glyphs":
        from .glyphs import glyph_task_images

        return glyph_task_images()
    raise QualityError(
        f"--dataset must be one of {', '.join(TASKS)} (embedded), got '{dataset}'; your own data goes in --data-dir"
    )


def source_and_config(
    dataset: str,
    data_dir: Path | None,
    tiny: bool,
    seed: int,
    depth: int | None,
    pretrain_classes: str | None,
    task_classes: str | None,
) -> tuple[data.Labelled, QualityConfig]:
    labelled = load_source(dataset, data_dir)
    config = make_config(tiny, seed, depth, "digits" if data_dir is not None else dataset)
    return labelled, data.choose_classes(labelled, config, pretrain_classes, task_classes)


def emit(result: dict, as_json: bool, table: Table | None = None) -> None:
    if as_json:
        sys.stdout.write(json.dumps(result, allow_nan=False) + "\n")
    elif table is not None:
        out.print(table)
    else:
        for key, value in result.items():
            out.print(f"{key}: {value}", highlight=False)


class RichProgress(benchmarks.Progress):
    def __init__(self, progress: Progress | None):
        self.progress, self.task = progress, None

    def start(self, description: str, total: int) -> None:
        if self.progress is not None:
            self.task = self.progress.add_task(description, total=total)

    def advance(self, steps: int = 1) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.advance(self.task, steps)


def progress_bar(enabled: bool) -> Progress:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    return Progress(*columns, console=err, transient=True, disable=not enabled)


# ---------------------------------------------------------------- pipeline commands


@app.command()
@handle_errors
def pretrain(
    out_path: Annotated[Path, typer.Option("--out", help="Where to write the M_init checkpoint.")],
    dataset: DATASET = "digits",
    data_dir: DATA_DIR = None,
    pretrain_classes: PRETRAIN_CLASSES = None,
    task_classes: TASK_CLASSES = None,
    seed: SEED = 0,
    tiny: TINY = False,
    as_json: JSON = False,
):
    """Train M_init on the pretraining classes (by default 0-4; the task is 5-9)."""
    labelled, config = source_and_config(
        dataset, data_dir, tiny, seed, None, pretrain_classes, task_classes
    )
    task = data.make_task(labelled.x, labelled.y, config, seed, labelled.names)
    with progress_bar(not as_json) as bar:
        reporter = RichProgress(bar)
        reporter.start("pretraining M_init", config.pretrain_steps)
        blob = pipeline.pretrain(config, task, seed, progress=reporter.advance)
    checkpoints.write_bytes(out_path, blob)
    m_init = pipeline.load_m_init(blob)
    emit(
        {
            "m_init": str(out_path),
            "sha256": m_init.sha256,
            "pretrain_classes": list(m_init.pretrain_class_names),
            "task_classes": list(m_init.task_class_names),
            "test_accuracy": pipeline.accuracy(
                m_init.model(), task.pretrain_test_x, task.pretrain_test_y
            ),
        },
        as_json,
    )


@app.command()
@handle_errors
def publish(
    m_init_path: Annotated[Path, typer.Option("--m-init", help="M_init checkpoint.")],
    extractor_out: Annotated[
        Path, typer.Option("--extractor-out", help="Extractor file for providers.")
    ],
    secret_out: Annotated[
        Path,
        typer.Option("--secret-out", help="Secret (delta, sigma) file; written with mode 0600."),
    ],
    depth: Annotated[
        int, typer.Option("--depth", "-k", help="K: the extractor keeps M_init's first K layers.")
    ] = QualityConfig.default().extractor_depth,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed", help="Ignored: the secret comes from the OS's entropy, never from a seed."
        ),
    ] = None,
    as_json: JSON = False,
):
    """Truncate M_init to K layers and obfuscate the last one: extractor + secret files.

    The secret (delta, sigma) is drawn from the operating system's entropy."""
    del seed
    extractor, secret = pipeline.publish(checkpoints.read_bytes(m_init_path, "M_init"), depth)
    checkpoints.write_bytes(extractor_out, extractor)
    checkpoints.write_bytes(secret_out, secret, secret=True)
    emit(
        {
            "extractor": str(extractor_out),
            "extractor_sha256": checkpoints.content_hash(extractor),
            "secret": str(secret_out),
            "depth": depth,
        },
        as_json,
    )


def original_labels(y, names: tuple[str, ...]):
    """Task indices as the class names of the data (integers when every name is one)."""
    import numpy as np

    chosen = np.asarray(names)[y]
    return chosen.astype(np.int64) if all(n.isdigit() for n in names) else chosen


@app.command()
@handle_errors
def dataset(
    family: Annotated[
        str, typer.Option("--family", help=f"Corruption family: {', '.join(corruptions.FAMILIES)}.")
    ] = "mislabel",
    level: Annotated[int, typer.Option("--level", help="0 is the original dataset.")] = 0,
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help="Write the provider's dataset here (.npz with x, y)."),
    ] = None,
    validation_out: Annotated[
        Path | None,
        typer.Option(
            "--validation-out", help="Write the collector's validation split here (.npz)."
        ),
    ] = None,
    source: DATASET = "digits",
    data_dir: DATA_DIR = None,
    pretrain_classes: PRETRAIN_CLASSES = None,
    task_classes: TASK_CLASSES = None,
    seed: SEED = 0,
    as_json: JSON = False,
):
    """Write a synthetic provider dataset and/or the collector's validation split, labelled
    with the data's own class names (5-9 for the digits task)."""
    labelled, config = source_and_config(
        source, data_dir, False, seed, None, pretrain_classes, task_classes
    )
    task = data.make_task(labelled.x, labelled.y, config, seed, labelled.names)
    result = {}
    if out_path is not None:
        x, y = pipeline.provider_dataset(config, task, family, level, seed)
        data.save_npz(out_path, x, original_labels(y, task.task_class_names))
        result.update(
            {"dataset": str(out_path), "family": family, "level": level, "entries": len(x)}
        )
    if validation_out is not None:
        data.save_npz(
            validation_out,
            task.validation_x,
            original_labels(task.validation_y, task.task_class_names),
        )
        result.update(
            {"validation": str(validation_out), "validation_entries": len(task.validation_x)}
        )
    if not result:
        raise QualityError("nothing to write: pass --out and/or --validation-out")
    emit(result, as_json)


def parse_indices(
    indices: str | None, indices_file: Path | None, sample_fraction: float | None, n: int, seed: int
):
    given = [v is not None for v in (indices, indices_file, sample_fraction)]
    if sum(given) > 1:
        raise QualityError("pass only one of --indices, --indices-file, --sample-fraction")
    text = indices
    if indices_file is not None:
        try:
            text = checkpoints.read_bytes(indices_file, "indices").decode()
        except UnicodeDecodeError:
            raise QualityError(f"{indices_file}: not a text file of indices") from None
    if text is not None:
        try:
            return [int(v) for v in text.replace(",", " ").split()]
        except ValueError:
            raise QualityError(
                "sample indices must be integers separated by commas or spaces"
            ) from None
    if sample_fraction is not None:
        import numpy as np

        if not 0 < sample_fraction <= 1:
            raise QualityError(f"--sample-fraction must be in (0, 1], got {sample_fraction}")
        return benchmarks.sample_indices(n, sample_fraction, np.random.default_rng(seed))
    return None


@app.command()
@handle_errors
def extract(
    extractor_path: Annotated[
        Path, typer.Option("--extractor", help="Extractor file published by the collector.")
    ],
    images: Annotated[
        Path,
        typer.Option(
            "--images", help="The provider's dataset: .npz with x/y, idx folder or class folder."
        ),
    ],
    out_path: Annotated[Path, typer.Option("--out", help="Features file to write.")],
    indices: Annotated[
        str | None,
        typer.Option("--indices", help="Sampled entries, e.g. 3,17,42 (default: every entry)."),
    ] = None,
    indices_file: Annotated[
        Path | None, typer.Option("--indices-file", help="A file of sampled entry positions.")
    ] = None,
    sample_fraction: Annotated[
        float | None,
        typer.Option("--sample-fraction", help="Sample this fraction at random instead."),
    ] = None,
    seed: SEED = 0,
    as_json: JSON = False,
):
    """Provider side: features of the sampled entries through the obfuscated extractor."""
    extractor_bytes = checkpoints.read_bytes(extractor_path, "extractor")
    x, y = pipeline.provider_labels(extractor_bytes, data.load_labelled(images), str(images))
    rows = parse_indices(indices, indices_file, sample_fraction, len(x), seed)
    blob = pipeline.extract_features(extractor_bytes, x, y, rows)
    checkpoints.write_bytes(out_path, blob)
    loaded = pipeline.load_features(blob)
    emit(
        {
            "features": str(out_path),
            "sha256": loaded.sha256,
            "entries": len(loaded.labels),
            "extractor_sha256": loaded.extractor_sha256,
        },
        as_json,
    )


@app.command()
@handle_errors
def review(
    extractor_path: Annotated[Path, typer.Option("--extractor")],
    images: Annotated[
        Path, typer.Option("--images", help="The revealed dataset (.npz with x/y, ...).")
    ],
    features_path: Annotated[
        Path, typer.Option("--features", help="The features file the provider submitted.")
    ],
    as_json: JSON = False,
):
    """Collector side: recompute the sampled entries' features from the revealed dataset."""
    blob = checkpoints.read_bytes(features_path, "features")
    submitted = pipeline.load_features(blob)
    extractor_bytes = checkpoints.read_bytes(extractor_path, "extractor")
    x, y = pipeline.provider_labels(extractor_bytes, data.load_labelled(images), str(images))
    if submitted.indices.max(initial=-1) >= len(x):
        raise QualityError(
            f"the features name entry {int(submitted.indices.max())} but the revealed dataset has {len(x)}"
        )
    ok = pipeline.review(extractor_bytes, x[submitted.indices], y[submitted.indices], blob)
    emit(
        {
            "review_passed": ok,
            "entries": len(submitted.indices),
            "rtol": pipeline.REVIEW_RTOL,
            "atol_relative_to_max": pipeline.REVIEW_ATOL,
        },
        as_json,
    )
    if not ok:
        raise typer.Exit(1)


@app.command()
@handle_errors
def score(
    secret_path: Annotated[Path, typer.Option("--secret")],
    m_init_path: Annotated[Path, typer.Option("--m-init")],
    features: Annotated[
        list[Path], typer.Option("--features", help="One per provider; repeat the option.")
    ],
    validation: Annotated[
        Path,
        typer.Option("--validation", help="The collector's validation set (.npz with x/y, ...)."),
    ],
    extractor_path: Annotated[
        Path | None,
        typer.Option("--extractor", help="Also check that the secret belongs to this extractor."),
    ] = None,
    threshold: Annotated[
        float, typer.Option("--threshold", help="Providers scoring below are never selected.")
    ] = 0.0,
    scorer: Annotated[
        str,
        typer.Option("--scorer", help=f"What ranks providers: {', '.join(scoring.SCORERS)}."),
    ] = QualityConfig.default().scorer,
    m_eval_out: Annotated[
        Path | None, typer.Option("--m-eval-out", help="Write the optimal provider's M_eval here.")
    ] = None,
    tiny: TINY = False,
    as_json: JSON = False,
):
    """Collector side: decode, fine-tune M_eval, value and rank every provider.

    Feature rows equal to a validation item are flagged per provider and left out of its
    score (they are nothing new, and would inflate it)."""
    from .scoring import optimal_provider

    if scorer not in scoring.SCORERS:
        raise QualityError(f"--scorer must be one of {', '.join(scoring.SCORERS)}, got '{scorer}'")
    config = make_config(tiny).replace(score_threshold=threshold, scorer=scorer)
    blobs = [checkpoints.read_bytes(p, "features") for p in features]
    extractor = checkpoints.read_bytes(extractor_path, "extractor") if extractor_path else None
    m_init_bytes = checkpoints.read_bytes(m_init_path, "M_init")
    m_init = pipeline.load_m_init(m_init_bytes)
    labelled = data.load_labelled(validation)
    validation_set = (
        labelled.x,
        data.task_labels(labelled, m_init.task_class_names, str(validation)),
    )
    ranked, m_evals = pipeline.score_providers_and_models(
        checkpoints.read_bytes(secret_path, "secret"),
        m_init_bytes,
        blobs,
        validation_set,
        config,
        extractor,
    )
    best = optimal_provider(ranked)
    result = {
        "ranking": [dict(s.to_dict(), features=str(features[s.provider])) for s in ranked],
        "optimal": None if best is None else str(features[best]),
        "scorer": scorer,
        "threshold": threshold,
        "m_eval": None,
    }
    if m_eval_out is not None and best is not None:
        checkpoints.write_bytes(m_eval_out, m_evals[best])
        result["m_eval"] = str(m_eval_out)
    table = Table(title=f"Provider ranking by {scorer}")
    columns = (
        "rank",
        "features",
        "score",
        "M_eval acc",
        "KNN-Shapley",
        "Data-OOB",
        "duplicates",
        "eligible",
    )
    for column in columns:
        table.add_column(column)
    for s in ranked:
        table.add_row(
            str(s.rank),
            str(features[s.provider]),
            f"{s.score:.3f}",
            f"{s.accuracy:.3f}",
            f"{s.knn_shapley:.3f}",
            f"{s.data_oob:.3f}",
            f"[bold red]{s.duplicates}[/]" if s.duplicates else "0",
            "yes" if s.eligible else "no",
        )
    emit(result, as_json, table)
    for s in ranked:
        if s.duplicates:
            err.print(
                f"warning: {features[s.provider]}: {s.duplicates} of {s.entries + s.duplicates} feature rows equal validation items; they are left out of its score",
                highlight=False,
            )


@app.command("make-idx")
@handle_errors
def make_idx(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the four idx files.")],
    count: Annotated[int, typer.Option("--count", help="Images in all (train and t10k).")] = 70_000,
    size: Annotated[int, typer.Option("--size", help="Image side in pixels.")] = 28,
    test_count: Annotated[
        int, typer.Option("--test-count", help="How many of them go to the t10k files.")
    ] = 10_000,
    seed: SEED = 0,
    as_json: JSON = False,
):
    """Generate glyph images in the MNIST idx format (10 classes, balanced), for trying the
    whole pipeline at MNIST's size offline."""
    from .glyphs import glyph_dataset

    if count < 20 or size < 8 or not 0 < test_count < count:
        raise QualityError("--count must be >= 20, --size >= 8 and 0 < --test-count < --count")
    labelled = glyph_dataset(count, size, seed)
    data.write_idx(out_dir, labelled.x, labelled.y, test_count)
    emit({"idx": str(out_dir), "images": count, "size": size, "test": test_count}, as_json)


# ---------------------------------------------------------------- benchmarks


def parse_list(text: str, cast, what: str) -> list:
    try:
        return [cast(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise QualityError(f"{what} must be a comma-separated list, got '{text}'") from None


def check_seeds(seeds: int) -> None:
    if seeds < 1:
        raise QualityError(f"--seeds must be at least 1, got {seeds}")


def check_sizes(pool_size: int | None, validation_size: int | None) -> tuple:
    for option, value in (("--pool-size", pool_size), ("--validation-size", validation_size)):
        if value is not None and value < 10:
            raise QualityError(f"{option} must be at least 10, got {value}")
    return pool_size, validation_size


DEPTH = Annotated[
    int | None, typer.Option("--depth", "-k", help="Extractor depth K (default: the task's).")
]
SEEDS = Annotated[
    int,
    typer.Option("--seeds", help="Independent repetitions; figures are means with 95% intervals."),
]
PLOT = Annotated[Path | None, typer.Option("--plot", help="Write PNG figures into this folder.")]
POOL_SIZE = Annotated[
    int | None,
    typer.Option("--pool-size", help="Use at most this many task images per provider dataset."),
]
VALIDATION_SIZE = Annotated[
    int | None,
    typer.Option("--validation-size", help="Use at most this many validation images."),
]


def interval(summary: dict) -> str:
    low, high = summary["ci95"]
    return f"{summary['mean']:.3f} [{low:.2f}, {high:.2f}]"


def selection_tables(report: dict) -> list[Table]:
    seeds = report["seeds"]
    main = Table(
        title=f"Selection accuracy on {report['task']}, mean [95% interval] over {seeds} seed(s); "
        f"HyperX = {report['scorer']}; {report['seconds']:.0f} s, {report['cpu_seconds']:.0f} s CPU"
    )
    for column in (
        "family",
        "groups",
        "HyperX",
        "Train-Whole",
        "Scratch-Subset",
        "τ HyperX",
        "W/T/L vs TW",
        "W/T/L vs SS",
    ):
        main.add_column(column)
    for family, entry in report["families"].items():
        methods, paired = entry["methods"], entry["paired"]
        main.add_row(
            family,
            str(entry["groups"]),
            *(interval(methods[m]["selection"]) for m in ("hyperx", *benchmarks.BASELINES)),
            f"{methods['hyperx']['kendall_tau']['mean']:.2f}",
            *(
                f"{paired[b]['win']}/{paired[b]['tie']}/{paired[b]['loss']}"
                for b in benchmarks.BASELINES
            ),
        )
    scorers = Table(
        title=f"HyperX's scorers: scoring split (tuning split); the tuning split prefers {report['scorer_on_tuning_split']}"
    )
    scorers.add_column("family")
    for scorer in scoring.SCORERS:
        scorers.add_column(scorer)
    for family, entry in report["families"].items():
        scorers.add_row(
            family,
            *(
                f"{entry['methods'][benchmarks.method_name(s)]['selection']['mean']:.2f} ({entry['tuning_split'][s]['mean']:.2f})"
                for s in scoring.SCORERS
            ),
        )
    return [main, scorers]


def emit_tables(report: dict, as_json: bool, tables: list[Table]) -> None:
    if as_json:
        emit(report, True)
        return
    for table in tables:
        out.print(table)


@bench_app.command("selection")
@handle_errors
def bench_selection(
    dataset: DATASET = "digits",
    data_dir: DATA_DIR = None,
    pretrain_classes: PRETRAIN_CLASSES = None,
    task_classes: TASK_CLASSES = None,
    seeds: SEEDS = 10,
    families: Annotated[
        str, typer.Option("--families", help="Comma-separated corruption families.")
    ] = ",".join(corruptions.FAMILIES),
    tiny: TINY = False,
    plot: PLOT = None,
    depth: DEPTH = None,
    pool_size: POOL_SIZE = None,
    validation_size: VALIDATION_SIZE = None,
    as_json: JSON = False,
):
    """Probability of selecting the best of 5 providers, per corruption family (Figures 6-8),
    with intervals, Kendall τ and paired win/tie/loss against both baselines."""
    check_seeds(seeds)
    chosen = parse_list(families, str, "--families")
    for family in chosen:
        corruptions.check_family(family)
    sizes = check_sizes(pool_size, validation_size)
    labelled, config = source_and_config(
        dataset, data_dir, tiny, 0, depth, pretrain_classes, task_classes
    )
    with progress_bar(not as_json) as bar:
        report = benchmarks.bench_selection(
            labelled,
            config,
            seeds,
            tuple(chosen),
            RichProgress(bar),
            sizes,
            str(data_dir) if data_dir is not None else dataset,
        )
    if plot is not None:
        from .plots import plot_selection

        report["plots"] = [str(p) for p in plot_selection(report, plot)]
    emit_tables(report, as_json, selection_tables(report))


def sweep_table(title: str, name: str, summary: dict, scratch: dict | None = None) -> Table:
    table = Table(title=title)
    for column in (name, "M_eval accuracy [95% interval]", "Scratch-Subset"):
        table.add_column(column)
    for key, value in summary.items():
        other = scratch.get(key, scratch) if scratch is not None else None
        table.add_row(key, interval(value), interval(other) if other is not None else "")
    return table


@bench_app.command("sampling")
@handle_errors
def bench_sampling(
    dataset: DATASET = "digits",
    data_dir: DATA_DIR = None,
    pretrain_classes: PRETRAIN_CLASSES = None,
    task_classes: TASK_CLASSES = None,
    seeds: SEEDS = 3,
    fractions: Annotated[
        str, typer.Option("--fractions", help="Comma-separated sampled fractions.")
    ] = "0.05,0.1,0.25,0.5,1.0",
    tiny: TINY = False,
    plot: PLOT = None,
    depth: DEPTH = None,
    pool_size: POOL_SIZE = None,
    validation_size: VALIDATION_SIZE = None,
    as_json: JSON = False,
):
    """M_eval accuracy for several sampling percentages CF_% (Table 6)."""
    check_seeds(seeds)
    chosen = parse_list(fractions, float, "--fractions")
    if not chosen or any(not 0 < f <= 1 for f in chosen):
        raise QualityError(f"--fractions must be in (0, 1], got {chosen}")
    sizes = check_sizes(pool_size, validation_size)
    labelled, config = source_and_config(
        dataset, data_dir, tiny, 0, depth, pretrain_classes, task_classes
    )
    with progress_bar(not as_json) as bar:
        report = benchmarks.bench_sampling(
            labelled, config, seeds, tuple(chosen), RichProgress(bar), sizes
        )
    if plot is not None:
        from .plots import plot_sweep

        report["plots"] = [
            str(
                plot_sweep(
                    report["sampling"],
                    "Sampling percentage (Table 6)",
                    "sampled fraction",
                    plot / "sampling.png",
                    report["scratch_subset"],
                )
            )
        ]
    emit(
        report,
        as_json,
        sweep_table(
            f"Sampling, {seeds} seed(s), {report['seconds']:.0f} s",
            "fraction",
            report["sampling"],
            report["scratch_subset"],
        ),
    )


@bench_app.command("depth")
@handle_errors
def bench_depth(
    dataset: DATASET = "digits",
    data_dir: DATA_DIR = None,
    pretrain_classes: PRETRAIN_CLASSES = None,
    task_classes: TASK_CLASSES = None,
    seeds: SEEDS = 3,
    tiny: TINY = False,
    plot: PLOT = None,
    pool_size: POOL_SIZE = None,
    validation_size: VALIDATION_SIZE = None,
    as_json: JSON = False,
):
    """M_eval accuracy for each extractor depth K (Table 5), beside Scratch-Subset."""
    check_seeds(seeds)
    sizes = check_sizes(pool_size, validation_size)
    labelled, config = source_and_config(
        dataset, data_dir, tiny, 0, None, pretrain_classes, task_classes
    )
    with progress_bar(not as_json) as bar:
        report = benchmarks.bench_depth(
            labelled, config, seeds, progress=RichProgress(bar), sizes=sizes
        )
    if plot is not None:
        from .plots import plot_sweep

        report["plots"] = [
            str(
                plot_sweep(
                    report["depth"],
                    "Extractor depth (Table 5)",
                    "K",
                    plot / "depth.png",
                    {k: report["scratch_subset"] for k in report["depth"]},
                )
            )
        ]
    emit(
        report,
        as_json,
        sweep_table(
            f"Extractor depth, {seeds} seed(s), {report['seconds']:.0f} s",
            "K",
            report["depth"],
            report["scratch_subset"],
        ),
    )


@bench_app.command("privacy")
@handle_errors
def bench_privacy(
    dataset: DATASET = "digits",
    data_dir: DATA_DIR = None,
    pretrain_classes: PRETRAIN_CLASSES = None,
    task_classes: TASK_CLASSES = None,
    seeds: SEEDS = 3,
    tiny: TINY = False,
    plot: PLOT = None,
    depth: DEPTH = None,
    pool_size: POOL_SIZE = None,
    validation_size: VALIDATION_SIZE = None,
    as_json: JSON = False,
):
    """Inversion attack (Table 3) and the effect of using W_hat directly (Table 4)."""
    check_seeds(seeds)
    sizes = check_sizes(pool_size, validation_size)
    labelled, config = source_and_config(
        dataset, data_dir, tiny, 0, depth, pretrain_classes, task_classes
    )
    with progress_bar(not as_json) as bar:
        report = benchmarks.bench_privacy(labelled, config, seeds, RichProgress(bar), sizes)
    if plot is not None:
        from .plots import plot_privacy

        report["plots"] = [str(p) for p in plot_privacy(report, plot)]
    table = Table(
        title=f"Privacy at K={config.extractor_depth}, {seeds} seed(s), {report['seconds']:.0f} s"
    )
    for column in ("measure", "mean [95% interval]"):
        table.add_column(column)
    inversion = report["inversion"]
    table.add_row(
        "classifier on original targets", interval(inversion["classifier_accuracy_on_originals"])
    )
    for name in ("pretrain_classes", "sample_photo_patches"):
        table.add_row(
            f"classifier on recovered (aux: {name})",
            interval(inversion[name]["classifier_accuracy_on_recovered"]),
        )
    table.add_row("chance", f"{inversion['chance']:.3f}")
    for key, value in report["obfuscation"].items():
        table.add_row(f"M_init with W_hat, delta={key}", interval(value))
    emit(report, as_json, table)


@bench_app.command("speed")
@handle_errors
def bench_speed(
    providers: Annotated[
        str, typer.Option("--providers", help="Provider counts to time.")
    ] = "1,11,64",
    dataset: DATASET = "digits",
    data_dir: DATA_DIR = None,
    pretrain_classes: PRETRAIN_CLASSES = None,
    task_classes: TASK_CLASSES = None,
    tiny: TINY = False,
    depth: DEPTH = None,
    repeats: Annotated[int, typer.Option("--repeats", help="Timed runs; the fastest counts.")] = 3,
    as_json: JSON = False,
):
    """Warm time to fine-tune N providers' heads: one compiled program, against one compiled
    program per provider (scan-per-provider) and against a jitted step per minibatch."""
    counts = parse_list(providers, int, "--providers")
    if not counts or min(counts) < 1:
        raise QualityError(f"--providers must list positive counts, got '{providers}'")
    if repeats < 1:
        raise QualityError(f"--repeats must be at least 1, got {repeats}")
    labelled, config = source_and_config(
        dataset, data_dir, tiny, 0, depth, pretrain_classes, task_classes
    )
    with progress_bar(not as_json) as bar:
        report = benchmarks.bench_speed(
            labelled, config, tuple(counts), repeats, progress=RichProgress(bar)
        )
    table = Table(
        title=f"Fine-tuning time on {report['device']} ({len(report['devices'])} device(s)), "
        f"best of {repeats}, seconds (CPU seconds)"
    )
    for column in (
        "providers",
        "one program",
        "scan per provider",
        "per-batch loop",
        "× vs scan",
        "× vs per-batch",
        "N / 1 provider",
    ):
        table.add_column(column)
    for key, ratio in report["ratios"].items():
        one, scan = report["one_program"][key], report["scan_per_provider"][key]
        batch = report["per_batch"].get(key)
        table.add_row(
            key,
            f"{one['seconds']:.2f} ({one['cpu_seconds']:.2f})",
            f"{scan['seconds']:.2f} ({scan['cpu_seconds']:.2f})",
            f"{batch['seconds']:.2f} ({batch['cpu_seconds']:.2f})" if batch else "-",
            f"{ratio['against_scan_per_provider']:.2f}",
            f"{ratio['against_per_batch']:.1f}" if batch else "-",
            f"{ratio['relative_to_one_provider']:.2f}",
        )
    emit(report, as_json, table)


def use_every_core() -> None:
    """One jax CPU device per core (up to 8), so that the provider axis is sharded over the
    cores; a user's own XLA_FLAGS or JAX_NUM_CPU_DEVICES win."""
    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return
    if "JAX_NUM_CPU_DEVICES" in os.environ:
        return
    import jax

    jax.config.update("jax_num_cpu_devices", max(1, min(8, len(os.sched_getaffinity(0)))))


def main() -> None:
    use_every_core()
    app()
