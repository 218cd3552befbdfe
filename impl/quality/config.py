"""Configuration of the quality assessor: one frozen dataclass, variants override fields."""

import dataclasses
from dataclasses import dataclass

from .train import Budget


@dataclass(frozen=True)
class QualityConfig:
    """Everything the pipeline and the benchmarks read, with units in the names.

    The model is a LeNet-style CNN: conv(3x3) -> pool(2) -> conv(3x3) -> pool(2) -> dense
    -> dense (the paper's Table 2 model pools once after two convolutions; pooling after
    each one does the second convolution at a quarter of the cost). Layer k (1-based) of
    the extractor is one of these four linear layers; the extractor stops before its
    activation (paper §3.1.1: the last layer must be linear to decode).
    """

    # The task: M_init learns `pretrain_classes`, the collector recruits `task_classes`
    # (label values of the data; the CLI also takes class names).
    pretrain_classes: tuple[int, ...] = (0, 1, 2, 3, 4)
    task_classes: tuple[int, ...] = (5, 6, 7, 8, 9)
    validation_fraction: float = 0.4  # of the task images, kept by the collector
    pretrain_test_fraction: float = 0.2  # of the pretraining images, to measure M_init
    # The collector's validation set is split once, by `seed`: the tuning part chooses
    # learning rates, steps and (in `bench selection`) the scorer; the scoring part gives
    # every figure and the ranking.
    tuning_fraction: float = 0.5

    # The CNN.
    conv_channels: tuple[int, int] = (8, 16)
    hidden_units: int = 64
    # K: conv1=1, conv2=2, dense1=3. K=2 is the shallowest extractor with a nonlinearity
    # before its last linear layer, which the paper's irreversibility argument needs
    # (Lemma 6.1: the ReLU loses information). `bench depth` and `bench privacy` give
    # the trade-off; README "Privacy" has the figures.
    extractor_depth: int = 2

    # Pretraining of M_init (Adam, minibatches drawn inside one compiled scan).
    pretrain_steps: int = 600
    pretrain_batch: int = 64
    pretrain_learning_rate: float = 2e-3

    sample_fraction: float = 0.25  # CF_%: share of a provider's dataset it extracts

    # The training budget of every method (M_eval's head, Train-Whole, Scratch-Subset):
    # a learning rate from the grid and the number of steps, both chosen per dataset on
    # the tuning split (early stopping every `eval_every` steps), `replicas` independent
    # trainings averaged.
    learning_rates: tuple[float, ...] = (1e-3, 3e-3)
    max_steps: int = 600
    eval_every: int = 100
    batch: int = 32
    replicas: int = 2

    # Training-free scores on the decoded features (`valuation`).
    knn_k: int = 5
    oob_bags: int = 64

    # What ranks providers: one of `scoring.SCORERS`.
    scorer: str = "head+knn_shapley+data_oob"
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
            max_steps=100,
            eval_every=50,
            oob_bags=16,
        )

    @classmethod
    def glyphs(cls) -> "QualityConfig":
        """The embedded 28x28 glyph task (`glyphs`): M_init names single parts (0-9), the
        collector recruits pairs of parts (10-14). The extractor keeps three layers (its
        64 features are what the head and the valuation scores see), and each provider
        extracts 10% of its 900 images. The learning-rate grid reaches 3e-2 because the
        head at K=3 is a linear layer that needs it; it is the same grid for both
        baselines. One replica per method keeps `bench selection` on 28x28 images (three
        learning rates, ten seeds) within about half an hour of CPU.
        """
        return cls(
            pretrain_classes=tuple(range(10)),
            task_classes=tuple(range(10, 15)),
            extractor_depth=3,
            pretrain_steps=2000,
            sample_fraction=0.1,
            learning_rates=(1e-3, 1e-2, 3e-2),
            batch=16,
            replicas=1,
        )

    def replace(self, **changes) -> "QualityConfig":
        return dataclasses.replace(self, **changes)

    def budget(self) -> Budget:
        return Budget(tuple(self.learning_rates), self.max_steps, self.eval_every, self.batch)

    def model_fields(self) -> dict:
        """The fields that fix the shapes of M_init; they travel inside checkpoints."""
        return {
            "conv_channels": list(self.conv_channels),
            "hidden_units": self.hidden_units,
            "num_classes": len(self.pretrain_classes),
        }
