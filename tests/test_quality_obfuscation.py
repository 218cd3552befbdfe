"""Exact decoding of the obfuscated extractor layer (paper Eq. 1-3, HyperX's exact form),
and agreement of the JAX assessor with the executable spec `hyperx.spec.obfuscation`."""

import os

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hyperx.impl.quality.errors import QualityError
from hyperx.impl.quality.obfuscation import Secret, decode_features, obfuscate_layer
from hyperx.spec import obfuscation as spec

EXAMPLES = 40 * (100 if os.environ.get("HYPERX_PROFILE") == "thorough" else 1)
EPS32 = float(np.finfo(np.float32).eps)
# XLA on a CPU flushes subnormal floats to zero where the spec keeps them: inputs are normal
# floats, and every comparison allows an absolute FLUSHED for products that underflow.
FLUSHED = 1e-30

values = st.floats(-10, 10, allow_nan=False, allow_subnormal=False, width=32)
nonzero = st.tuples(st.floats(2.0**-10, 2.0**10, width=32), st.sampled_from([-1.0, 1.0])).map(
    lambda p: p[0] * p[1]
)


@st.composite
def layers(draw):
    """A random linear layer, inputs, and a random secret (nonzero delta, any sigma).

    Shapes are fixed so that JAX compiles each operation once; values are random."""
    inputs, outputs, batch = 6, 5, 4
    x = draw(hnp.arrays(np.float32, (batch, inputs), elements=values))
    kernel = draw(hnp.arrays(np.float32, (inputs, outputs), elements=values))
    bias = draw(hnp.arrays(np.float32, (outputs,), elements=values))
    delta = np.asarray(draw(st.lists(nonzero, min_size=outputs, max_size=outputs)), np.float32)
    sigma = np.asarray(
        draw(
            st.lists(
                st.floats(-100, 100, allow_subnormal=False, width=32),
                min_size=outputs,
                max_size=outputs,
            )
        ),
        np.float32,
    )
    return x, kernel, bias, Secret(delta, sigma)


def rounding_bound(x, kernel, bias, secret) -> np.ndarray:
    """Float32 error bound of decode(extract(x)) against x @ W + b, per element: each
    term of the obfuscated sum rounds at eps, and dividing by delta scales sigma's share."""
    magnitude = np.abs(x) @ np.abs(kernel) + np.abs(bias) + np.abs(secret.sigma / secret.delta)
    return 4 * (x.shape[1] + 3) * EPS32 * magnitude


@settings(max_examples=EXAMPLES)
@given(layers())
def test_decode_of_obfuscated_features_is_exact(layer):
    x, kernel, bias, secret = layer
    kernel_hat, bias_hat = obfuscate_layer(jnp.asarray(kernel), jnp.asarray(bias), secret)
    features_hat = jnp.matmul(x, kernel_hat, precision="highest") + bias_hat
    decoded = np.asarray(decode_features(features_hat, secret.delta, secret.sigma))
    plain = x.astype(np.float64) @ kernel.astype(np.float64) + bias
    assert np.all(np.abs(decoded - plain) <= rounding_bound(x, kernel, bias, secret) + FLUSHED)


@settings(max_examples=EXAMPLES)
@given(layers())
def test_agrees_with_the_spec(layer):
    x, kernel, bias, secret = layer
    kernel_hat, bias_hat = obfuscate_layer(jnp.asarray(kernel), jnp.asarray(bias), secret)
    delta, sigma = secret.delta.astype(float).tolist(), secret.sigma.astype(float).tolist()
    spec_kernel, spec_bias = spec.compute_obfuscated_layer(
        kernel.astype(float).tolist(), bias.astype(float).tolist(), delta, sigma
    )
    np.testing.assert_allclose(np.asarray(kernel_hat), spec_kernel, rtol=2 * EPS32, atol=FLUSHED)
    np.testing.assert_allclose(
        np.asarray(bias_hat),
        spec_bias,
        rtol=4 * EPS32,
        atol=4 * EPS32 * np.abs(secret.sigma).max() + FLUSHED,
    )
    for row in x.astype(float).tolist():
        spec_decoded = spec.decode_features(
            spec.compute_linear(row, spec_kernel, spec_bias), delta, sigma
        )
        ours = np.asarray(
            decode_features(
                jnp.matmul(np.float32(row), kernel_hat, precision="highest") + bias_hat,
                secret.delta,
                secret.sigma,
            )
        )
        bound = rounding_bound(np.float32([row]), kernel, bias, secret)[0]
        assert np.all(np.abs(ours - np.asarray(spec_decoded)) <= bound + FLUSHED)


def test_rejects_zero_delta():
    with pytest.raises(QualityError, match="every delta must be nonzero"):
        Secret(np.float32([1.0, 0.0]), np.float32([0.0, 0.0]))


def test_rejects_secret_of_wrong_width():
    secret = Secret(np.float32([1.0, 2.0, 3.0]), np.float32([0.0, 0.0, 0.0]))
    with pytest.raises(QualityError, match="secret has 3 channels but the layer has 4"):
        obfuscate_layer(jnp.ones((2, 4)), jnp.ones(4), secret)


def test_rejects_mismatched_delta_and_sigma():
    with pytest.raises(QualityError, match="must be equal-length vectors"):
        Secret(np.float32([1.0, 2.0]), np.float32([0.0]))
