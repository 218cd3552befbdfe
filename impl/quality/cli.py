"""`hyperx-eval`: the standalone quality assessor for ML engineers (no chain, no web3).

A thin entry point over `pipeline` and `benchmarks`; every command takes `--json`.
"""

import functools
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import benchmarks, checkpoints, corruptions, data, pipeline
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

JSON = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
DATASET = Annotated[
    str, typer.Option("--dataset", help="digits (embedded) or mnist (needs --data-dir).")
]
DATA_DIR = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="MNIST idx files (raw or .gz), an .npz with x/y, or one folder per class.",
    ),
]
TINY = Annotated[
    bool, typer.Option("--tiny", help="A small model and short runs (smoke runs, not figures).")
]
SEED = Annotated[
    int, typer.Option("--seed", help="Seed of the split, the training and the secret.")
]


def handle_errors(command):
    """Bad input ends with a one-line message and exit code 2, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except QualityError as error:
            err.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def make_config(tiny: bool, seed: int = 0, depth: int | None = None) -> QualityConfig:
    config = (QualityConfig.tiny() if tiny else QualityConfig.default()).replace(seed=seed)
    if depth is not None:
        pipeline.check_depth(depth)
        config = config.replace(extractor_depth=depth)
    return config


def load_task(dataset: str, data_dir: Path | None, config: QualityConfig, seed: int) -> data.Task:
    if dataset not in ("digits", "mnist"):
        raise QualityError(f"--dataset must be digits or mnist, got '{dataset}'")
    if dataset == "mnist" and data_dir is None:
        raise QualityError("--dataset mnist needs --data-dir with the four MNIST idx files")
    x, y = data.load_dataset(dataset, data_dir)
    return data.make_task(x, y, config, seed)


def emit(result: dict, as_json: bool, table: Table | None = None) -> None:
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
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
    seed: SEED = 0,
    tiny: TINY = False,
    as_json: JSON = False,
):
    """Train M_init on the generic classes (digits 0-4 by default)."""
    config = make_config(tiny, seed)
    task = load_task(dataset, data_dir, config, seed)
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
    seed: SEED = 0,
    as_json: JSON = False,
):
    """Truncate M_init to K layers and obfuscate the last one: extractor + secret files."""
    extractor, secret = pipeline.publish(checkpoints.read_bytes(m_init_path, "M_init"), depth, seed)
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
    seed: SEED = 0,
    as_json: JSON = False,
):
    """Write a synthetic provider dataset and/or the collector's validation split."""
    config = make_config(False, seed)
    task = load_task(source, data_dir, config, seed)
    result = {}
    if out_path is not None:
        x, y = pipeline.provider_dataset(config, task, family, level, seed)
        data.save_npz(out_path, x, y)
        result.update(
            {"dataset": str(out_path), "family": family, "level": level, "entries": len(x)}
        )
    if validation_out is not None:
        data.save_npz(validation_out, task.validation_x, task.validation_y)
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
    text = (
        indices
        if indices is not None
        else (checkpoints.read_bytes(indices_file, "indices").decode() if indices_file else None)
    )
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
    x, y = data.load_images(images)
    rows = parse_indices(indices, indices_file, sample_fraction, len(x), seed)
    blob = pipeline.extract_features(
        checkpoints.read_bytes(extractor_path, "extractor"), x, y, rows
    )
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
    x, y = data.load_images(images)
    if submitted.indices.max(initial=-1) >= len(x):
        raise QualityError(
            f"the features name entry {int(submitted.indices.max())} but the revealed dataset has {len(x)}"
        )
    ok = pipeline.review(
        checkpoints.read_bytes(extractor_path, "extractor"),
        x[submitted.indices],
        y[submitted.indices],
        blob,
    )
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
    m_eval_out: Annotated[
        Path | None, typer.Option("--m-eval-out", help="Write the optimal provider's M_eval here.")
    ] = None,
    tiny: TINY = False,
    as_json: JSON = False,
):
    """Collector side: decode, fine-tune M_eval per provider, score, rank, apply the threshold."""
    from .scoring import optimal_provider

    config = make_config(tiny).replace(score_threshold=threshold)
    blobs = [checkpoints.read_bytes(p, "features") for p in features]
    extractor = checkpoints.read_bytes(extractor_path, "extractor") if extractor_path else None
    ranked, m_evals = pipeline.score_providers_and_models(
        checkpoints.read_bytes(secret_path, "secret"),
        checkpoints.read_bytes(m_init_path, "M_init"),
        blobs,
        data.load_images(validation),
        config,
        extractor,
    )
    best = optimal_provider(ranked)
    result = {
        "ranking": [dict(s.to_dict(), features=str(features[s.provider])) for s in ranked],
        "optimal": None if best is None else str(features[best]),
        "threshold": threshold,
        "m_eval": None,
    }
    if m_eval_out is not None and best is not None:
        checkpoints.write_bytes(m_eval_out, m_evals[best])
        result["m_eval"] = str(m_eval_out)
    table = Table(title="Provider ranking")
    for column in ("rank", "features", "accuracy", "spread", "loss", "eligible"):
        table.add_column(column)
    for s in ranked:
        table.add_row(
            str(s.rank),
            str(features[s.provider]),
            f"{s.accuracy:.3f}",
            f"{s.accuracy_spread:.3f}",
            f"{s.loss:.3f}",
            "yes" if s.eligible else "no",
        )
    emit(result, as_json, table)


# ---------------------------------------------------------------- benchmarks


def parse_list(text: str, cast, what: str) -> list:
    try:
        return [cast(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise QualityError(f"{what} must be a comma-separated list, got '{text}'") from None


def bench_inputs(dataset: str, data_dir: Path | None):
    if dataset not in ("digits", "mnist"):
        raise QualityError(f"--dataset must be digits or mnist, got '{dataset}'")
    if dataset == "mnist" and data_dir is None:
        raise QualityError("--dataset mnist needs --data-dir with the four MNIST idx files")
    return data.load_dataset(dataset, data_dir)


def check_seeds(seeds: int) -> None:
    if seeds < 1:
        raise QualityError(f"--seeds must be at least 1, got {seeds}")


DEPTH = Annotated[
    int | None, typer.Option("--depth", "-k", help="Extractor depth K (default: the config's).")
]
SEEDS = Annotated[
    int, typer.Option("--seeds", help="Independent repetitions; figures are mean and spread.")
]
PLOT = Annotated[Path | None, typer.Option("--plot", help="Write PNG figures into this folder.")]


@bench_app.command("selection")
@handle_errors
def bench_selection(
    dataset: DATASET = "digits",
    data_dir: DATA_DIR = None,
    seeds: SEEDS = 3,
    families: Annotated[
        str, typer.Option("--families", help="Comma-separated corruption families.")
    ] = ",".join(corruptions.FAMILIES),
    tiny: TINY = False,
    plot: PLOT = None,
    depth: DEPTH = None,
    as_json: JSON = False,
):
    """Probability of selecting the best of 5 providers, per corruption family (Figures 6-8)."""
    check_seeds(seeds)
    chosen = parse_list(families, str, "--families")
    for family in chosen:
        corruptions.check_family(family)
    x, y = bench_inputs(dataset, data_dir)
    with progress_bar(not as_json) as bar:
        report = benchmarks.bench_selection(
            x, y, make_config(tiny, depth=depth), seeds, tuple(chosen), RichProgress(bar)
        )
    if plot is not None:
        from .plots import plot_selection

        report["plots"] = [str(p) for p in plot_selection(report, plot)]
    table = Table(
        title=f"Selection accuracy, mean ± spread over {seeds} seed(s), {report['seconds']:.0f} s"
    )
    for column in ("family", "groups", "HyperX", "Train-Whole", "Scratch-Subset"):
        table.add_column(column)
    for family, entry in report["families"].items():
        table.add_row(
            family,
            str(entry["groups"]),
            *(f"{entry[m]:.3f} ± {entry[m + '_spread']:.3f}" for m in benchmarks.METHODS),
        )
    emit(report, as_json, table)


def sweep_table(title: str, name: str, summary: dict) -> Table:
    table = Table(title=title)
    for column in (name, "M_eval accuracy", "spread"):
        table.add_column(column)
    for key, value in summary.items():
        table.add_row(key, f"{value['mean']:.3f}", f"{value['spread']:.3f}")
    return table


@bench_app.command("sampling")
@handle_errors
def bench_sampling(
    dataset: DATASET = "digits",
    data_dir: DATA_DIR = None,
    seeds: SEEDS = 3,
    fractions: Annotated[
        str, typer.Option("--fractions", help="Comma-separated sampled fractions.")
    ] = "0.05,0.1,0.25,0.5,1.0",
    tiny: TINY = False,
    plot: PLOT = None,
    depth: DEPTH = None,
    as_json: JSON = False,
):
    """M_eval accuracy for several sampling percentages CF_% (Table 6)."""
    check_seeds(seeds)
    chosen = parse_list(fractions, float, "--fractions")
    if any(not 0 < f <= 1 for f in chosen):
        raise QualityError(f"--fractions must be in (0, 1], got {chosen}")
    x, y = bench_inputs(dataset, data_dir)
    with progress_bar(not as_json) as bar:
        report = benchmarks.bench_sampling(
            x, y, make_config(tiny, depth=depth), seeds, tuple(chosen), RichProgress(bar)
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
                )
            )
        ]
    emit(
        report,
        as_json,
        sweep_table(
            f"Sampling, {seeds} seed(s), {report['seconds']:.0f} s", "fraction", report["sampling"]
        ),
    )


@bench_app.command("depth")
@handle_errors
def bench_depth(
    dataset: DATASET = "digits",
    data_dir: DATA_DIR = None,
    seeds: SEEDS = 3,
    tiny: TINY = False,
    plot: PLOT = None,
    as_json: JSON = False,
):
    """M_eval accuracy for each extractor depth K (Table 5)."""
    check_seeds(seeds)
    x, y = bench_inputs(dataset, data_dir)
    with progress_bar(not as_json) as bar:
        report = benchmarks.bench_depth(x, y, make_config(tiny), seeds, progress=RichProgress(bar))
    if plot is not None:
        from .plots import plot_sweep

        report["plots"] = [
            str(plot_sweep(report["depth"], "Extractor depth (Table 5)", "K", plot / "depth.png"))
        ]
    emit(
        report,
        as_json,
        sweep_table(
            f"Extractor depth, {seeds} seed(s), {report['seconds']:.0f} s", "K", report["depth"]
        ),
    )


@bench_app.command("privacy")
@handle_errors
def bench_privacy(
    dataset: DATASET = "digits",
    data_dir: DATA_DIR = None,
    seeds: SEEDS = 3,
    tiny: TINY = False,
    plot: PLOT = None,
    depth: DEPTH = None,
    as_json: JSON = False,
):
    """Inversion attack (Table 3) and the effect of using W_hat directly (Table 4)."""
    check_seeds(seeds)
    x, y = bench_inputs(dataset, data_dir)
    with progress_bar(not as_json) as bar:
        report = benchmarks.bench_privacy(
            x, y, make_config(tiny, depth=depth), seeds, RichProgress(bar)
        )
    if plot is not None:
        from .plots import plot_privacy

        report["plots"] = [str(p) for p in plot_privacy(report, plot)]
    table = Table(title=f"Privacy, {seeds} seed(s), {report['seconds']:.0f} s")
    for column in ("measure", "mean", "spread"):
        table.add_column(column)
    inversion = report["inversion"]
    table.add_row(
        "classifier on original targets",
        f"{inversion['classifier_accuracy_on_originals']['mean']:.3f}",
        f"{inversion['classifier_accuracy_on_originals']['spread']:.3f}",
    )
    for name in ("digits_of_pretrain_classes", "sample_photo_patches"):
        value = inversion[name]["classifier_accuracy_on_recovered"]
        table.add_row(
            f"classifier on recovered (aux: {name})",
            f"{value['mean']:.3f}",
            f"{value['spread']:.3f}",
        )
    table.add_row("chance", f"{inversion['chance']:.3f}", "")
    for key, value in report["obfuscation"].items():
        table.add_row(
            f"M_init with W_hat, delta={key}", f"{value['mean']:.3f}", f"{value['spread']:.3f}"
        )
    emit(report, as_json, table)


@bench_app.command("speed")
@handle_errors
def bench_speed(
    providers: Annotated[
        str, typer.Option("--providers", help="Provider counts to time.")
    ] = "1,11",
    tiny: TINY = False,
    depth: DEPTH = None,
    as_json: JSON = False,
):
    """Warm time to evaluate N providers: one compiled program vs a per-batch Python loop."""
    counts = parse_list(providers, int, "--providers")
    if not counts or min(counts) < 1:
        raise QualityError(f"--providers must list positive counts, got '{providers}'")
    x, y = data.load_digits_images()
    with progress_bar(not as_json) as bar:
        report = benchmarks.bench_speed(
            x, y, make_config(tiny, depth=depth), tuple(counts), progress=RichProgress(bar)
        )
    table = Table(title=f"Evaluation time on {report['device']}")
    columns = ("providers", "compiled (s)", "per-batch loop (s)", "speed-up", "CPU speed-up")
    for column in columns:
        table.add_column(column)
    for key in report["seconds"]:
        table.add_row(
            key,
            f"{report['seconds'][key]:.3f}",
            f"{report['baseline_seconds'][key]:.3f}",
            f"{report['speedup'][key]:.1f}x",
            f"{report['cpu_speedup'][key]:.1f}x",
        )
    emit(report, as_json, table)


def main() -> None:
    app()
