"""Pure, jitted training: optax loops inside `lax.scan`, many models in one program.

`fit` trains every (provider, learning rate, replica) model at once: providers are a
`vmap` axis (datasets padded to one length; rows past a provider's count are never
drawn), and so are the candidate learning rates and the independent replicas
(different initialisations and data orders, the same for every provider so that
providers are compared on common random numbers). Every `eval_every` steps each model
is scored on the collector's tuning and scoring splits; `choose` then picks, per
provider, the learning rate and the number of steps by the tuning split alone. With
more than one device the provider axis is sharded with `jax.sharding`; after
`jax.distributed.initialize()` `jax.devices()` spans every host, so the same mesh
covers a cluster and the results are gathered on every host.
"""

from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

# Evaluation runs over chunks of a labelled set so that a large validation set never
# materialises every model's activations at once: about this many bytes in flight.
EVAL_BYTES = 256 * 2**20
# Activations per example relative to its input size (an im2col of a 3x3 kernel alone is 9x).
ACTIVATION_FACTOR = 64


@dataclass(frozen=True)
class Hyper:
    """One fixed training run (pretraining, the privacy benchmark's decoder)."""

    steps: int
    batch: int
    learning_rate: float


@dataclass(frozen=True)
class Budget:
    """What every method may spend on one dataset: Adam with a learning rate from
    `learning_rates`, up to `max_steps` minibatches of `batch` rows, scored on the tuning
    split every `eval_every` steps. The same budget and the same rule (`choose`) serve
    HyperX's head and both baselines, so no method wins on an untuned hyperparameter."""

    learning_rates: tuple[float, ...]
    max_steps: int
    eval_every: int
    batch: int

    def __post_init__(self):
        if self.max_steps % self.eval_every:
            raise ValueError("max_steps must be a multiple of eval_every")

    @property
    def checkpoints(self) -> int:
        return self.max_steps // self.eval_every

    def to_dict(self) -> dict:
        return {
            "learning_rates": list(self.learning_rates),
            "max_steps": self.max_steps,
            "eval_every": self.eval_every,
            "batch": self.batch,
        }


def cross_entropy(logits, labels):
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def make_train_step(graphdef: nnx.GraphDef, optimizer, loss=cross_entropy):
    """step(state, opt_state, xb, yb) -> (state, opt_state, loss): one optimizer step."""

    def loss_fn(state, xb, yb):
        return loss(nnx.merge(graphdef, state)(xb), yb)

    def step(state, opt_state, xb, yb):
        value, grads = jax.value_and_grad(loss_fn)(state, xb, yb)
        updates, opt_state = optimizer.update(grads, opt_state, state)
        return optax.apply_updates(state, updates), opt_state, value

    return step


def make_scan(step, batch: int):
    """run(state, opt_state, x, y, count, keys): len(keys) steps in one `lax.scan`, each on
    a minibatch drawn from the first `count` rows (the rest is padding)."""

    def run(state, opt_state, x, y, count, keys):
        def body(carry, key):
            rows = jax.random.randint(key, (batch,), 0, count)
            state, opt_state, value = step(*carry, x[rows], y[rows])
            return (state, opt_state), value

        (state, opt_state), losses = jax.lax.scan(body, (state, opt_state), keys)
        return state, opt_state, losses

    return run


def make_train_loop(graphdef: nnx.GraphDef, hyper: Hyper, loss=cross_entropy):
    """(optimizer, loop): loop(state, opt_state, x, y, count, keys) runs len(keys) Adam steps."""
    optimizer = optax.adam(hyper.learning_rate)
    return optimizer, make_scan(make_train_step(graphdef, optimizer, loss), hyper.batch)


class LabelledSet(NamedTuple):
    """A labelled set padded to whole evaluation chunks: x (C, chunk, ...), y and mask (C, chunk)."""

    x: jax.Array
    y: jax.Array
    mask: jax.Array


def chunked(x: np.ndarray, y: np.ndarray, chunk: int) -> LabelledSet:
    n = len(x)
    chunks = max(1, -(-n // chunk))
    pad = chunks * chunk - n
    xp = np.concatenate([x, np.zeros((pad, *x.shape[1:]), x.dtype)])
    yp = np.concatenate([y, np.zeros(pad, y.dtype)])
    mask = np.concatenate([np.ones(n, np.float32), np.zeros(pad, np.float32)])
    return LabelledSet(
        xp.reshape(chunks, chunk, *x.shape[1:]),
        yp.reshape(chunks, chunk),
        mask.reshape(chunks, chunk),
    )


def eval_chunk(example_shape: tuple[int, ...], models: int, n: int) -> int:
    """Rows per evaluation chunk: a power of two that keeps every model's activations
    within EVAL_BYTES, and no larger than the set."""
    per_example = 4 * ACTIVATION_FACTOR * int(np.prod(example_shape)) * models
    chunk = 1 << max(3, min(10, int(np.log2(max(1, EVAL_BYTES // per_example)))))
    return min(chunk, 1 << int(np.ceil(np.log2(max(n, 1)))))


def evaluate(graphdef: nnx.GraphDef, state, labelled: LabelledSet) -> tuple[jax.Array, jax.Array]:
    """(accuracy, mean cross-entropy) of a model on a chunked labelled set."""

    def one_chunk(totals, chunk):
        x, y, mask = chunk
        logits = nnx.merge(graphdef, state)(x)
        correct = jnp.sum((jnp.argmax(logits, -1) == y) * mask)
        losses = jnp.sum(optax.softmax_cross_entropy_with_integer_labels(logits, y) * mask)
        return (totals[0] + correct, totals[1] + losses), None

    (correct, losses), _ = jax.lax.scan(
        one_chunk, (0.0, 0.0), (labelled.x, labelled.y, labelled.mask)
    )
    count = jnp.sum(labelled.mask)
    return correct / count, losses / count


@cache
def compiled_fit(graphdef: nnx.GraphDef, budget: Budget, keep_states: bool):
    """The whole training of every provider, learning rate and replica as one jitted program.

    Inputs: init states stacked (R, ...), one key's data per replica (R, ...), learning rates (L,),
    data (P, N, ...), labels (P, N), counts (P,), the tuning and scoring sets (chunked).
    Output, per provider and learning rate: tuning and scoring accuracy and loss at every
    checkpoint (P, L, C, R), the replica means of the tuning figures (P, L, C) that `choose`
    ranks by, and with `keep_states` each learning rate's best-so-far states (P, L, R, ...).
    """
    checkpoints, every, batch = budget.checkpoints, budget.eval_every, budget.batch

    def per_learning_rate(states, keys, learning_rate, x, y, count, tuning, scoring):
        optimizer = optax.adam(learning_rate)
        run = make_scan(make_train_step(graphdef, optimizer), batch)
        opt_states = jax.vmap(optimizer.init)(states)
        step_keys = jax.vmap(lambda k: jax.random.split(k, checkpoints * every))(keys)
        step_keys = step_keys.reshape(len(keys), checkpoints, every).swapaxes(0, 1)
        score_all = jax.vmap(lambda state, labelled: evaluate(graphdef, state, labelled), (0, None))

        def checkpoint(carry, chunk_keys):
            states, opt_states, best = carry
            states, opt_states, _ = jax.vmap(run, in_axes=(0, 0, None, None, None, 0))(
                states, opt_states, x, y, count, chunk_keys
            )
            tune_acc, tune_loss = score_all(states, tuning)
            score_acc, score_loss = score_all(states, scoring)
            acc, loss = tune_acc.mean(), tune_loss.mean()
            if keep_states:
                better = (acc > best[0]) | ((acc == best[0]) & (loss < best[1]))
                kept = jax.tree.map(lambda new, old: jnp.where(better, new, old), states, best[2])
                best = (jnp.where(better, acc, best[0]), jnp.where(better, loss, best[1]), kept)
            return (states, opt_states, best), (
                tune_acc,
                tune_loss,
                score_acc,
                score_loss,
                acc,
                loss,
            )

        best = (jnp.float32(-1.0), jnp.float32(jnp.inf), states) if keep_states else ()
        (_, _, best), metrics = jax.lax.scan(checkpoint, (states, opt_states, best), step_keys)
        return metrics, (best[2] if keep_states else ())

    per_rate = jax.vmap(per_learning_rate, in_axes=(None, None, 0, None, None, None, None, None))
    per_provider = jax.vmap(per_rate, in_axes=(None, None, None, 0, 0, 0, None, None))

    def program(states, key_data, *rest):
        # Keys travel as raw uint32 data: host arrays that device_put can place on a mesh
        # spanning several processes.
        return per_provider(states, jax.random.wrap_key_data(key_data), *rest)

    return jax.jit(program)


def provider_mesh(providers: int | None = None) -> jax.sharding.Mesh | None:
    """A one-axis mesh over the devices (on one host, no more devices than `providers`),
    or None when that is a single device."""
    devices = jax.devices()
    if providers is not None and jax.process_count() == 1:
        devices = devices[: max(1, min(len(devices), providers))]
    if len(devices) == 1:
        return None
    return jax.sharding.Mesh(
        np.asarray(devices), ("providers",), axis_types=(jax.sharding.AxisType.Auto,)
    )


@dataclass(frozen=True)
class FitResult:
    """Per provider: every checkpoint's figures, and what the tuning split chose."""

    tune_accuracy: np.ndarray  # (P, L, C, R)
    tune_loss: np.ndarray
    score_accuracy: np.ndarray
    score_loss: np.ndarray
    criterion: tuple[np.ndarray, np.ndarray]  # replica-mean tuning (accuracy, loss), (P, L, C)
    states: object  # (P, L, R, ...) best states per learning rate, or None
    budget: Budget

    def choice(self) -> tuple[np.ndarray, np.ndarray]:
        """Per provider the chosen (learning-rate index, checkpoint index): the highest
        replica-mean tuning accuracy, then the lowest tuning loss, then the fewest steps
        and the smallest learning rate."""
        acc, loss = self.criterion
        providers, rates, checks = acc.shape
        flat_acc, flat_loss = acc.reshape(providers, -1), loss.reshape(providers, -1)
        # Flattened (l, c) order; lexsort keys: last is primary. Earlier steps win ties,
        # then smaller learning rates.
        step_index = np.tile(np.arange(checks), rates)
        rate_index = np.repeat(np.arange(rates), checks)
        best = np.empty(providers, int)
        for p in range(providers):
            best[p] = np.lexsort((rate_index, step_index, flat_loss[p], -flat_acc[p]))[0]
        return best // checks, best % checks

    def chosen(self) -> dict:
        """The chosen point's figures: per provider (R,) accuracies and losses, lr and steps."""
        rate, check = self.choice()
        at = np.arange(len(rate))
        return {
            "score_accuracy": self.score_accuracy[at, rate, check],
            "score_loss": self.score_loss[at, rate, check],
            "tune_accuracy": self.tune_accuracy[at, rate, check],
            "tune_loss": self.tune_loss[at, rate, check],
            "learning_rate": np.asarray(self.budget.learning_rates)[rate],
            "steps": (check + 1) * self.budget.eval_every,
            "rate_index": rate,
        }


def fit(
    graphdef,
    states,
    keys,
    datasets,
    tuning: tuple[np.ndarray, np.ndarray],
    scoring: tuple[np.ndarray, np.ndarray],
    budget: Budget,
    keep_states: bool = False,
    rows: int | None = None,
    providers: int | None = None,
) -> FitResult:
    """Train every (provider, learning rate, replica) model on its dataset, scoring it on
    both splits at every checkpoint.

    Datasets are padded to `rows` rows and the provider axis to `providers` (then to a
    multiple of the device count) so that calls of different sizes share one compiled
    program; padded providers repeat the first and are dropped from the result.
    """
    num_providers = len(datasets)
    slots = max(providers or num_providers, num_providers)
    mesh = provider_mesh(slots)
    devices = 1 if mesh is None else mesh.size
    slots += -slots % devices
    x, y, counts = pad_datasets(list(datasets) + [datasets[0]] * (slots - num_providers), rows)
    models = slots * len(budget.learning_rates) * len(keys) // devices
    sets = []
    for set_x, set_y in (tuning, scoring):
        set_x, set_y = np.asarray(set_x, np.float32), np.asarray(set_y, np.int32)
        sets.append(chunked(set_x, set_y, eval_chunk(set_x.shape[1:], models, len(set_x))))
    rates = np.asarray(budget.learning_rates, np.float32)
    keys = np.asarray(jax.random.key_data(keys))
    program = compiled_fit(graphdef, budget, keep_states)
    if mesh is not None:
        by_provider = NamedSharding(mesh, P("providers"))
        replicated = NamedSharding(mesh, P())
        # Host copies: every process passes the same values and each takes its own shards.
        states = jax.tree.map(np.asarray, states)
        x, y, counts = (jax.device_put(a, by_provider) for a in (x, y, counts))
        states, keys, rates, sets = jax.device_put((states, keys, rates, sets), replicated)
    metrics, kept = program(states, keys, rates, x, y, counts, *sets)
    if jax.process_count() > 1:
        # Under jax.distributed each host holds only its shard of the provider axis; every
        # host passes the same inputs (device_put takes its own shard) and gathers them all.
        from jax.experimental import multihost_utils

        metrics, kept = multihost_utils.process_allgather((metrics, kept), tiled=True)
    metrics = [np.asarray(m)[:num_providers] for m in metrics]
    kept = jax.tree.map(lambda leaf: leaf[:num_providers], kept) if keep_states else None
    return FitResult(*metrics[:4], (metrics[4], metrics[5]), kept, budget)


def stack_states(states: list) -> object:
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)


def pad_datasets(
    datasets: list[tuple[np.ndarray, np.ndarray]], rows: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stack datasets of different lengths: (P, N, ...), (P, N), counts (P,); N = max(rows, longest)."""
    longest = max([len(x) for x, _ in datasets] + [rows or 0])
    shape = datasets[0][0].shape[1:]
    xs = np.zeros((len(datasets), longest, *shape), np.float32)
    ys = np.zeros((len(datasets), longest), np.int32)
    for i, (x, y) in enumerate(datasets):
        xs[i, : len(x)] = x
        ys[i, : len(y)] = y
    counts = np.asarray([len(x) for x, _ in datasets], np.int32)
    return xs, ys, counts
