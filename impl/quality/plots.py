"""PNG figures like the paper's Figures 6-8 (selection) and Tables 3-6 (as bar/line charts)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

LABELS = {"hyperx": "HyperX", "train_whole": "Train-Whole", "scratch_subset": "Scratch-Subset"}


def plot_selection(report: dict, directory: Path) -> list[Path]:
    """One figure per family: (a) selection accuracy, (b)-(d) accuracy per dataset."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for family, entry in report["families"].items():
        figure, axes = plt.subplots(1, 4, figsize=(16, 3.6))
        means = [entry[m] for m in LABELS]
        spreads = [entry[f"{m}_spread"] for m in LABELS]
        axes[0].bar(
            list(LABELS.values()),
            means,
            yerr=spreads,
            capsize=4,
            color=["tab:red", "tab:blue", "tab:green"],
        )
        axes[0].set_ylim(0, 1.05)
        axes[0].set_title(f"(a) selection accuracy, {entry['groups']} groups")
        for axis, (method, label), letter in zip(
            axes[1:],
            [
                ("train_whole", "Train-Whole"),
                ("scratch_subset", "Scratch-Subset"),
                ("hyperx", "HyperX"),
            ],
            "bcd",
            strict=True,
        ):
            axis.plot(entry["levels"], entry[f"{method}_dataset_accuracy"], marker="o")
            axis.set_title(f"({letter}) {label}")
            axis.set_xlabel(f"{family} level")
            axis.set_ylabel("validation accuracy")
        figure.suptitle(f"{family}: mean of {report['seeds']} seeds")
        figure.tight_layout()
        path = directory / f"selection_{family}.png"
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(path)
    return written


def plot_sweep(summary: dict, title: str, xlabel: str, path: Path) -> Path:
    """A mean +- spread line over the swept values (Tables 5 and 6)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = list(summary)
    figure, axis = plt.subplots(figsize=(5, 3.6))
    axis.errorbar(
        keys,
        [summary[k]["mean"] for k in keys],
        yerr=[summary[k]["spread"] for k in keys],
        marker="o",
        capsize=4,
    )
    axis.set_xlabel(xlabel)
    axis.set_ylabel("M_eval validation accuracy")
    axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def plot_privacy(report: dict, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    inversion = report["inversion"]
    names = [
        "classifier_accuracy_on_originals",
        "digits_of_pretrain_classes",
        "sample_photo_patches",
    ]
    values = [inversion[names[0]]] + [
        inversion[n]["classifier_accuracy_on_recovered"] for n in names[1:]
    ]
    left.bar(
        ["originals", "recovered (aux: digits)", "recovered (aux: photos)"],
        [v["mean"] for v in values],
        yerr=[v["spread"] for v in values],
        capsize=4,
    )
    left.axhline(inversion["chance"], color="grey", linestyle="--", label="chance")
    left.set_title("Inversion attack (Table 3)")
    left.legend()
    obfuscation = report["obfuscation"]
    right.bar(
        list(obfuscation),
        [v["mean"] for v in obfuscation.values()],
        yerr=[v["spread"] for v in obfuscation.values()],
        capsize=4,
    )
    right.set_title("Model using W_hat directly (Table 4)")
    right.set_xlabel("delta")
    figure.tight_layout()
    path = directory / "privacy.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return [path]
