"""Pure, jitted training: one optax loop per model inside one `lax.scan`.

`fit_and_score` trains many models at once: providers are a `vmap` axis (datasets
padded to one length; rows past a provider's count are never drawn) and so are the
independent fine-tunes of one dataset (replicas: different initialisations and data
orders, the same for every provider so that providers are compared on common random
numbers). With more than one device the provider axis is sharded with `jax.sharding`;
after `jax.distributed.initialize()` `jax.devices()` spans every host, so the same
mesh covers a cluster.
"""

from dataclasses import dataclass
from functools import cache

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from .models import after_layer


@dataclass(frozen=True)
class Hyper:
    steps: int
    batch: int
    learning_rate: float


def cross_entropy(logits, labels):
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def make_train_step(graphdef: nnx.GraphDef, hyper: Hyper, loss=cross_entropy):
    """(optimizer, step): one Adam step (state, opt_state, xb, yb) -> (state, opt_state, loss)."""
    optimizer = optax.adam(hyper.learning_rate)

    def loss_fn(state, xb, yb):
        return loss(nnx.merge(graphdef, state)(xb), yb)

    def step(state, opt_state, xb, yb):
        value, grads = jax.value_and_grad(loss_fn)(state, xb, yb)
        updates, opt_state = optimizer.update(grads, opt_state, state)
        return optax.apply_updates(state, updates), opt_state, value

    return optimizer, step


def make_train_loop(graphdef: nnx.GraphDef, hyper: Hyper, loss=cross_entropy):
    """(optimizer, loop): loop(state, opt_state, x, y, count, keys) runs len(keys) steps in one
    `lax.scan`, each on a minibatch drawn from the first `count` rows (the rest is padding)."""
    optimizer, step = make_train_step(graphdef, hyper, loss)

    def loop(state, opt_state, x, y, count, keys):
        def body(carry, key):
            rows = jax.random.randint(key, (hyper.batch,), 0, count)
            state, opt_state, value = step(*carry, x[rows], y[rows])
            return (state, opt_state), value

        (state, opt_state), losses = jax.lax.scan(body, (state, opt_state), keys)
        return state, opt_state, losses

    return optimizer, loop


def evaluate(graphdef: nnx.GraphDef, state, x, y) -> tuple[jax.Array, jax.Array]:
    """(accuracy, mean cross-entropy) of a model on a labelled set."""
    logits = nnx.merge(graphdef, state)(x)
    return jnp.mean(jnp.argmax(logits, -1) == y), cross_entropy(logits, y)


@cache
def compiled_fit_and_score(graphdef: nnx.GraphDef, hyper: Hyper, decode_depth: int | None):
    """The whole evaluation of every provider and replica as one jitted program.

    Inputs: init states stacked (R, ...), one key per replica (R,), data (P, N, ...),
    labels (P, N), counts (P,), a validation set, and the secret (delta, sigma). With a
    `decode_depth` K the data are obfuscated features B_hat: Eq. 3 decodes them and
    applies f_actv (layer K's activation and pooling) once, before the training loop;
    the validation set is then the collector's plain features of the same K layers.
    Output: accuracy and loss (P, R), and the trained models (P, R, ...).
    """
    optimizer, loop = make_train_loop(graphdef, hyper)

    def one(state, key, x, y, count, val_x, val_y):
        keys = jax.random.split(key, hyper.steps)
        state, _, _ = loop(state, optimizer.init(state), x, y, count, keys)
        return *evaluate(graphdef, state, val_x, val_y), state

    per_replica = jax.vmap(one, in_axes=(0, 0, None, None, None, None, None))
    per_provider = jax.vmap(per_replica, in_axes=(None, None, 0, 0, 0, None, None))

    def program(states, keys, x, y, counts, val_x, val_y, delta, sigma):
        if decode_depth is not None:
            x = after_layer(decode_depth, (x - sigma) / delta)
            val_x = after_layer(decode_depth, val_x)
        return per_provider(states, keys, x, y, counts, val_x, val_y)

    return jax.jit(program)


def provider_mesh() -> jax.sharding.Mesh | None:
    """A one-axis mesh over every device, or None on a single device."""
    if jax.device_count() == 1:
        return None
    return jax.make_mesh(
        (jax.device_count(),), ("providers",), axis_types=(jax.sharding.AxisType.Auto,)
    )


def fit_and_score(
    graphdef,
    states,
    keys,
    datasets,
    val_x,
    val_y,
    hyper: Hyper,
    secret=None,
    decode_depth: int | None = None,
    rows: int | None = None,
    providers: int | None = None,
):
    """Train every (provider, replica) model on its dataset and score it on the validation
    set: numpy (P, R) accuracy and loss, and the trained states (P, R, ...).

    Datasets are padded to `rows` rows and the provider axis to `providers` (then to a
    multiple of the device count) so that calls of different sizes share one compiled
    program; padded providers repeat the first and are dropped from the result.
    """
    num_providers = len(datasets)
    mesh = provider_mesh()
    devices = 1 if mesh is None else mesh.size
    slots = max(providers or num_providers, num_providers)
    slots += -slots % devices
    x, y, counts = pad_datasets(list(datasets) + [datasets[0]] * (slots - num_providers), rows)
    if secret is None:
        delta, sigma = np.float32(1.0), np.float32(0.0)
    else:
        delta, sigma = secret.delta, secret.sigma
    program = compiled_fit_and_score(graphdef, hyper, decode_depth)
    if mesh is not None:
        by_provider = NamedSharding(mesh, P("providers"))
        replicated = NamedSharding(mesh, P())
        x, y, counts = (jax.device_put(a, by_provider) for a in (x, y, counts))
        states, keys, val_x, val_y, delta, sigma = jax.device_put(
            (states, keys, val_x, val_y, delta, sigma), replicated
        )
    accuracy, loss, trained = program(states, keys, x, y, counts, val_x, val_y, delta, sigma)
    if jax.process_count() > 1:
        # Under jax.distributed each host holds only its shard of the provider axis; every
        # host passes the same inputs (device_put accepts them) and gathers the results.
        # Not exercised here: this machine is one host.
        from jax.experimental import multihost_utils

        accuracy, loss, trained = multihost_utils.process_allgather(
            (accuracy, loss, trained), tiled=True
        )
    trained = jax.tree.map(lambda leaf: leaf[:num_providers], trained)
    return np.asarray(accuracy)[:num_providers], np.asarray(loss)[:num_providers], trained


def stack_states(states: list) -> object:
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)


def pad_datasets(
    datasets: list[tuple[np.ndarray, np.ndarray]], rows: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stack datasets of different lengths: (P, N, ...), (P, N), counts (P,); N = max(rows, longest)."""
    longest = max([len(x) for x, _ in datasets] + [rows or 0])
    xs, ys = [], []
    for x, y in datasets:
        missing = longest - len(x)
        xs.append(np.concatenate([x, np.zeros((missing, *x.shape[1:]), x.dtype)]))
        ys.append(np.concatenate([y, np.zeros(missing, y.dtype)]))
    counts = np.asarray([len(x) for x, _ in datasets], np.int32)
    return np.stack(xs), np.stack(ys), counts
