"""Obfuscation of the extractor's last linear layer and exact decoding, in JAX.

The same form as `hyperx.spec.obfuscation` (which explains why it departs from the
paper's Eq. 1): sigma is an output offset folded into the bias,

    W_hat[:, j] = W[:, j] * delta_j        b_hat_j = b_j * delta_j + sigma_j

so the collector's decode (B_hat - sigma) / delta (Eq. 3 before f_actv) is exact for
every nonzero delta_j. A convolution's kernel is (9 * in_channels, out_channels) here,
so the same per-output-channel secret covers conv and dense layers.
"""

import secrets
from dataclasses import dataclass

import jax
import numpy as np

from .errors import QualityError


@dataclass(frozen=True)
class Secret:
    """The collector's private (delta, sigma), one pair per output channel."""

    delta: np.ndarray
    sigma: np.ndarray

    def __post_init__(self):
        if self.delta.shape != self.sigma.shape or self.delta.ndim != 1:
            raise QualityError(
                f"secret: delta {self.delta.shape} and sigma {self.sigma.shape} must be equal-length vectors"
            )
        if not np.all(self.delta != 0):
            raise QualityError("secret: every delta must be nonzero (decoding divides by it)")


def sample_secret(
    channels: int,
    rng: np.random.Generator | None = None,
    delta_range: tuple[float, float] = (0.1, 10.0),
    sigma_scale: float = 1.0,
) -> Secret:
    """delta log-uniform in +-[lo, hi] with a random sign; sigma Gaussian.

    By default the generator is seeded from the operating system's entropy (`secrets`),
    never from a seed a user passes for reproducibility: anyone who knows that seed
    could regenerate (delta, sigma) and undo the obfuscation. Tests may pass `rng`.
    """
    if rng is None:
        rng = np.random.default_rng(secrets.randbits(256))
    magnitude = np.exp(rng.uniform(np.log(delta_range[0]), np.log(delta_range[1]), channels))
    sign = np.where(rng.random(channels) < 0.5, -1.0, 1.0)
    sigma = sigma_scale * rng.standard_normal(channels)
    return Secret((magnitude * sign).astype(np.float32), sigma.astype(np.float32))


def obfuscate_layer(
    kernel: jax.Array, bias: jax.Array, secret: Secret
) -> tuple[jax.Array, jax.Array]:
    """(W_hat, b_hat) for y = x @ W + b, W of shape (inputs, outputs)."""
    if kernel.shape[-1] != secret.delta.shape[0] or bias.shape != secret.delta.shape:
        raise QualityError(
            f"secret has {secret.delta.shape[0]} channels but the layer has {bias.shape[0]}"
        )
    return kernel * secret.delta, bias * secret.delta + secret.sigma


def decode_features(features_hat: jax.Array, delta: jax.Array, sigma: jax.Array) -> jax.Array:
    """(B_hat - sigma) / delta over the last (channel) axis: Eq. 3 without f_actv."""
    return (features_hat - sigma) / delta
