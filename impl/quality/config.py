"""Configuration of the quality assessor: one frozen dataclass, variants override fields."""

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class QualityConfig:
    """Everything the pipeline and the benchmarks read, with units in the names.

    The model is a LeNet-style CNN sized for 8x8 digits (the paper's Table 2 model pools
    once after two convolutions; pooling after each one here does the second convolution
    at a quarter of the cost): conv(3x3) -> pool(2) -> conv(3x3) -> pool(2) -> dense -> dense. Layer k (1-based) of the
    extractor is one of these four linear layers; the extractor stops before its
    activation (paper §3.1.1: the last layer must be linear to decode).
    """

    # The task: M_init learns `pretrain_classes`, the collector recruits `task_classes`.
    pretrain_classes: tuple[int, ...] = (0, 1, 2, 3, 4)
    task_classes: tuple[int, ...] = (5, 6, 7, 8, 9)
    validation_fraction: float = 0.4  # of the task images, kept by the collector
    pretrain_test_fraction: float = 0.2  # of the pretraining images, to measure M_init

    # The CNN.
    conv_channels: tuple[int, int] = (8, 16)
    hidden_units: int = 64
    # K: conv1=1, conv2=2, dense1=3. K=2 is the shallowest extractor with a nonlinearity
    # before its last linear layer, which the paper's irreversibility argument needs
    # (Lemma 6.1: the ReLU loses information). K=1 is one linear map of the pixels, and
    # `bench privacy` inverts it almost perfectly (0.952 of recovered digits classified
    # right against 0.875 at K=2; chance 0.10). `bench depth`, 3 seeds, M_eval accuracy
    # on clean data: K=1 0.938+-0.012, K=2 0.913+-0.020, K=3 0.723+-0.044; selection
    # accuracy is the same within the seed spread at K=1 and K=2.
    extractor_depth: int = 2

    # Pretraining of M_init (Adam, minibatches drawn inside one compiled scan).
    pretrain_steps: int = 600
    pretrain_batch: int = 64
    pretrain_learning_rate: float = 2e-3

    # Fine-tuning of M_eval on a provider's decoded features (Eq. 4).
    sample_fraction: float = 0.25  # CF_%: share of a provider's dataset it extracts
    finetune_steps: int = 300
    finetune_batch: int = 32
    finetune_learning_rate: float = 1e-3
    finetunes_per_dataset: int = 3  # independent fine-tunes averaged into one score

    # Train-Whole and Scratch-Subset: the same CNN trained from scratch.
    baseline_steps: int = 300
    baseline_batch: int = 32
    baseline_learning_rate: float = 2e-3

    # Ranking: a provider whose score is below the threshold is never selected.
    score_threshold: float = 0.0

    seed: int = 0

    @classmethod
    def default(cls) -> "QualityConfig":
        return cls()

    @classmethod
    def tiny(cls) -> "QualityConfig":
        """A small model and short runs: for smoke tests, not for figures."""
        return cls(
            conv_channels=(4, 8),
            hidden_units=16,
            pretrain_steps=200,
            finetune_steps=100,
            baseline_steps=100,
            finetunes_per_dataset=2,
        )

    def replace(self, **changes) -> "QualityConfig":
        return dataclasses.replace(self, **changes)

    def model_fields(self) -> dict:
        """The fields that fix the shapes of M_init; they travel inside checkpoints."""
        return {
            "conv_channels": list(self.conv_channels),
            "hidden_units": self.hidden_units,
            "num_classes": len(self.pretrain_classes),
        }
