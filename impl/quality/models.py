"""The CNN behind M_init, M_extractor, M_eval and the baselines, in Flax NNX.

Convolutions are written as im2col + matmul: on a CPU, inside `lax.scan` and `vmap`,
XLA's own convolution ran about 15x slower (NOTES.md). Every matmul asks for the
highest precision so that a provider's GPU and the collector's CPU agree on features
(TF32 would not), which the review step relies on.
"""

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import nnx

PRECISION = jax.lax.Precision.HIGHEST
NUM_LAYERS = 4  # conv1, conv2, dense1, dense2: the layers an extractor depth K counts


@dataclass(frozen=True)
class Architecture:
    """Shapes of the CNN: images are (height, width) grey levels in [0, 1]."""

    height: int
    width: int
    conv_channels: tuple[int, int]
    hidden_units: int
    num_classes: int

    @property
    def flat_units(self) -> int:
        return (self.height // 4) * (self.width // 4) * self.conv_channels[1]

    def feature_shape(self, depth: int) -> tuple[int, ...]:
        """Shape of one image's features after the first `depth` layers."""
        if depth == 1:
            return (self.height, self.width, self.conv_channels[0])
        if depth == 2:
            return (self.height // 2, self.width // 2, self.conv_channels[1])
        if depth == 3:
            return (self.hidden_units,)
        raise ValueError(f"extractor depth must be 1, 2 or 3, got {depth}")

    def to_dict(self) -> dict:
        return {
            "height": self.height,
            "width": self.width,
            "conv_channels": list(self.conv_channels),
            "hidden_units": self.hidden_units,
            "num_classes": self.num_classes,
        }

    @classmethod
    def from_dict(cls, fields: dict) -> "Architecture":
        return cls(
            height=int(fields["height"]),
            width=int(fields["width"]),
            conv_channels=tuple(int(c) for c in fields["conv_channels"]),
            hidden_units=int(fields["hidden_units"]),
            num_classes=int(fields["num_classes"]),
        )


def im2col_3x3(x: jax.Array) -> jax.Array:
    """(..., H, W, C) -> (..., H, W, 9 C): the 3x3 neighbourhoods, zero padded ("SAME")."""
    height, width = x.shape[-3], x.shape[-2]
    pad = [(0, 0)] * (x.ndim - 3) + [(1, 1), (1, 1), (0, 0)]
    padded = jnp.pad(x, pad)
    shifts = [padded[..., i : i + height, j : j + width, :] for i in range(3) for j in range(3)]
    return jnp.concatenate(shifts, axis=-1)


class Conv3x3(nnx.Module):
    """A 3x3 'SAME' convolution, stride 1, as im2col + matmul."""

    def __init__(self, in_channels: int, out_channels: int, *, rngs: nnx.Rngs):
        init = nnx.initializers.he_normal()
        self.kernel = nnx.Param(init(rngs.params(), (9 * in_channels, out_channels)))
        self.bias = nnx.Param(jnp.zeros((out_channels,)))

    def __call__(self, x: jax.Array) -> jax.Array:
        return jnp.matmul(im2col_3x3(x), self.kernel[...], precision=PRECISION) + self.bias[...]


class Dense(nnx.Module):
    def __init__(self, in_units: int, out_units: int, *, rngs: nnx.Rngs):
        init = nnx.initializers.he_normal()
        self.kernel = nnx.Param(init(rngs.params(), (in_units, out_units)))
        self.bias = nnx.Param(jnp.zeros((out_units,)))

    def __call__(self, x: jax.Array) -> jax.Array:
        return jnp.matmul(x, self.kernel[...], precision=PRECISION) + self.bias[...]


def max_pool_2x2(z: jax.Array) -> jax.Array:
    *batch, height, width, channels = z.shape
    z = z[..., : height // 2 * 2, : width // 2 * 2, :]
    return z.reshape(*batch, height // 2, 2, width // 2, 2, channels).max(axis=(-4, -2))


def after_layer(index: int, z: jax.Array) -> jax.Array:
    """The activation (and pooling) that follows layer `index` (1-based) of the CNN.

    For the extractor's last layer this is f_actv of Eq. 3, applied by the collector
    after decoding.
    """
    if index == 1:
        return max_pool_2x2(jax.nn.relu(z))
    if index == 2:
        z = max_pool_2x2(jax.nn.relu(z))
        return z.reshape(*z.shape[:-3], -1)
    if index == 3:
        return jax.nn.relu(z)
    return z


def build_layers(arch: Architecture, rngs: nnx.Rngs) -> list[nnx.Module]:
    c1, c2 = arch.conv_channels
    return [
        Conv3x3(1, c1, rngs=rngs),
        Conv3x3(c1, c2, rngs=rngs),
        Dense(arch.flat_units, arch.hidden_units, rngs=rngs),
        Dense(arch.hidden_units, arch.num_classes, rngs=rngs),
    ]


class CNN(nnx.Module):
    """M_init, Train-Whole and Scratch-Subset: conv, pool, conv, pool, dense, dense."""

    def __init__(self, arch: Architecture, *, rngs: nnx.Rngs):
        self.layers = nnx.List(build_layers(arch, rngs))

    def features(self, images: jax.Array, depth: int) -> jax.Array:
        """The first `depth` layers, ending on a linear layer (no activation): Eq. 2."""
        z = images[..., None]
        for index in range(1, depth + 1):
            if index > 1:
                z = after_layer(index - 1, z)
            z = self.layers[index - 1](z)
        return z

    def __call__(self, images: jax.Array) -> jax.Array:
        return self.features(images, NUM_LAYERS)


class Extractor(nnx.Module):
    """M_extractor: the first K layers of M_init, whose last layer may be obfuscated."""

    def __init__(self, layers: list[nnx.Module]):
        self.layers = nnx.List(layers)

    def __call__(self, images: jax.Array) -> jax.Array:
        z = images[..., None]
        for index, layer in enumerate(self.layers, start=1):
            if index > 1:
                z = after_layer(index - 1, z)
            z = layer(z)
        return z


class EvalHead(nnx.Module):
    """The trainable layers of M_eval: M_init's layers after K, with a fresh output layer.

    Its input is B of Eq. 3: the decoded features after f_actv (and pooling), which the
    collector computes once per dataset, outside the fine-tuning loop.
    """

    def __init__(self, arch: Architecture, depth: int, num_classes: int, *, rngs: nnx.Rngs):
        fresh = build_layers(arch, rngs)
        fresh[-1] = Dense(arch.hidden_units, num_classes, rngs=rngs)
        self.depth = depth
        self.layers = nnx.List(fresh[depth:])

    def __call__(self, activated_features: jax.Array) -> jax.Array:
        z = activated_features
        for offset, layer in enumerate(self.layers):
            if offset > 0:
                z = after_layer(self.depth + offset, z)
            z = layer(z)
        return z
