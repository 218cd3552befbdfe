"""PNG figures like the paper's Figures 6-8 (selection) and Tables 3-6 (as bar/line charts),
every bar and point with its 95% bootstrap interval over seeds."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

LABELS = {"hyperx": "HyperX", "train_whole": "Train-Whole", "scratch_subset": "Scratch-Subset"}
COLOURS = ["tab:red", "tab:blue", "tab:green"]


def error_bars(summaries: list[dict]) -> np.ndarray:
    """(2, n) distances from each mean down and up to its interval's ends."""
    means = np.asarray([s["mean"] for s in summaries])
    bounds = np.asarray([s["ci95"] for s in summaries]).T
    return np.abs(bounds - means)


def plot_selection(report: dict, directory: Path) -> list[Path]:
    """One figure per family: (a) selection accuracy, (b)-(d) score per dataset."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for family, entry in report["families"].items():
        methods = entry["methods"]
        figure, axes = plt.subplots(1, 4, figsize=(16, 3.6))
        summaries = [methods[m]["selection"] for m in LABELS]
        axes[0].bar(
            list(LABELS.values()),
            [s["mean"] for s in summaries],
            yerr=error_bars(summaries),
            capsize=4,
            color=COLOURS,
        )
        axes[0].set_ylim(0, 1.05)
        axes[0].set_title(f"(a) selection accuracy, {entry['groups']} groups")
        for axis, method, letter in zip(
            axes[1:], ("train_whole", "scratch_subset", "hyperx"), "bcd", strict=True
        ):
            scores = methods[method]["dataset_score"]
            low, high = np.asarray(scores["ci95"]).T
            axis.plot(entry["levels"], scores["mean"], marker="o")
            axis.fill_between(entry["levels"], low, high, alpha=0.25)
            axis.set_title(f"({letter}) {LABELS[method]}")
            axis.set_xlabel(f"{family} level")
            axis.set_ylabel("score (scoring split)")
        figure.suptitle(
            f"{report['task']}, {family}: mean and 95% interval over {report['seeds']} seeds; HyperX = {report['scorer']}"
        )
        figure.tight_layout()
        path = directory / f"selection_{report['task'].replace('/', '_')}_{family}.png"
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(path)
    return written


def plot_sweep(
    summary: dict, title: str, xlabel: str, path: Path, scratch: dict | None = None
) -> Path:
    """Mean and 95% interval over the swept values (Tables 5 and 6), with Scratch-Subset."""
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = list(summary)
    figure, axis = plt.subplots(figsize=(5, 3.6))
    lines = [(summary, "o", "M_eval (HyperX head)")]
    if scratch is not None:
        lines.append((scratch, "s", "Scratch-Subset"))
    for values, marker, label in lines:
        points = [values[k] for k in keys]
        axis.errorbar(
            keys,
            [v["mean"] for v in points],
            yerr=error_bars(points),
            marker=marker,
            capsize=4,
            label=label,
        )
    axis.legend()
    axis.set_xlabel(xlabel)
    axis.set_ylabel("scoring-split accuracy")
    axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def plot_privacy(report: dict, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    inversion = report["inversion"]
    values = [inversion["classifier_accuracy_on_originals"]] + [
        inversion[n]["classifier_accuracy_on_recovered"]
        for n in ("pretrain_classes", "sample_photo_patches")
    ]
    left.bar(
        ["originals", "recovered (aux: pretrain classes)", "recovered (aux: photos)"],
        [v["mean"] for v in values],
        yerr=error_bars(values),
        capsize=4,
    )
    left.axhline(inversion["chance"], color="grey", linestyle="--", label="chance")
    left.set_title(f"Inversion attack (Table 3), K={report['extractor_depth']}")
    left.legend()
    obfuscation = list(report["obfuscation"].values())
    right.bar(
        list(report["obfuscation"]),
        [v["mean"] for v in obfuscation],
        yerr=error_bars(obfuscation),
        capsize=4,
    )
    right.set_title("Model using W_hat directly (Table 4)")
    right.set_xlabel("delta")
    figure.tight_layout()
    path = directory / "privacy.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return [path]
