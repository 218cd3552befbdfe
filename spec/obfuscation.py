"""Obfuscation of the extractor's last linear layer, and exact decoding (paper Eq. 1-3).

The paper writes Eq. 1 as W_hat = W * delta + sigma and decodes with Eq. 3,
B = f_actv((B_hat - sigma) / delta). With sigma added to the *weights*, a feature is
delta * (W x) + sigma * sum(x), and Eq. 3 leaves sigma * sum(x) / delta behind: it is
exact only when every input sums to zero. HyperX departs here: sigma is an *output
offset*, folded into the bias,

    W_hat[:, j] = W[:, j] * delta_j        b_hat_j = b_j * delta_j + sigma_j

so B_hat = delta * (W x + b) + sigma and (B_hat - sigma) / delta = W x + b exactly,
for every nonzero delta_j (proved in `hyperx.proofs.obfuscation`). The JAX assessor
(`hyperx.impl.quality`) implements the same form and is tested against this module.
Numbers are generic: floats, `fractions.Fraction`, or z3 reals all work.
"""

from collections.abc import Sequence


def is_valid_obfuscation_secret(delta: Sequence) -> bool:
    # Verify every per-output-channel multiplier is nonzero (decoding divides by it)
    return len(delta) > 0 and all(d != 0 for d in delta)


def compute_obfuscated_layer(
    weight: Sequence[Sequence], bias: Sequence, delta: Sequence, sigma: Sequence
):
    """Return (W_hat, b_hat) for a layer y = x @ W + b with W of shape (inputs, outputs)."""
    # Verify the secret has one (delta, sigma) pair per output channel
    assert len(delta) == len(sigma) == len(bias), "hyperx: secret does not match the layer"
    assert all(len(row) == len(bias) for row in weight), "hyperx: weight shape"
    # Verify decoding is possible
    assert is_valid_obfuscation_secret(delta), "hyperx: delta must be nonzero"
    weight_hat = [[w * d for w, d in zip(row, delta, strict=True)] for row in weight]
    bias_hat = [b * d + s for b, d, s in zip(bias, delta, sigma, strict=True)]
    return weight_hat, bias_hat


def compute_linear(x: Sequence, weight: Sequence[Sequence], bias: Sequence) -> list:
    """y_j = sum_i x_i W[i][j] + b_j."""
    return [
        sum(xi * row[j] for xi, row in zip(x, weight, strict=True)) + bias[j]
        for j in range(len(bias))
    ]


def decode_features(features_hat: Sequence, delta: Sequence, sigma: Sequence) -> list:
    """Eq. 3 before the activation: (B_hat - sigma) / delta, per output channel."""
    # Verify decoding is possible
    assert is_valid_obfuscation_secret(delta), "hyperx: delta must be nonzero"
    return [(y - s) / d for y, s, d in zip(features_hat, sigma, delta, strict=True)]
