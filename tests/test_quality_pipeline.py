"""The assessor end to end on a tiny config: pretrain, publish, extract, review, score;
and every bad input the collector or a provider can hand it."""

import gzip
import os
import stat
import struct

import numpy as np
import pytest

from hyperx.impl.quality import checkpoints, corruptions, data, pipeline
from hyperx.impl.quality.baselines import train_from_scratch
from hyperx.impl.quality.config import QualityConfig
from hyperx.impl.quality.errors import QualityError
from hyperx.impl.quality.models import after_layer
from hyperx.impl.quality.scoring import optimal_provider, selection_accuracy

CONFIG = QualityConfig.tiny()


@pytest.fixture(scope="module")
def task():
    x, y = data.load_digits_images()
    return data.make_task(x, y, CONFIG, seed=0)


@pytest.fixture(scope="module")
def m_init_bytes(task):
    return pipeline.pretrain(CONFIG, task, seed=0)


@pytest.fixture(scope="module")
def published(m_init_bytes):
    return pipeline.publish(m_init_bytes, depth=2, seed=1)


def sample(task, family, level):
    x, y = pipeline.provider_dataset(CONFIG, task, family, level, seed=0)
    rows = np.arange(0, len(x), 4)
    return x, y, rows


def test_smoke_whole_pipeline(task, m_init_bytes, published):
    extractor, secret = published
    providers = [sample(task, "mislabel", level) for level in (0, 5, 10)]
    features = [pipeline.extract_features(extractor, x, y, rows) for x, y, rows in providers]
    for (x, y, rows), blob in zip(providers, features, strict=True):
        assert pipeline.review(extractor, x[rows], y[rows], blob)
    ranked, m_evals = pipeline.score_providers_and_models(
        secret,
        m_init_bytes,
        features,
        (task.validation_x, task.validation_y),
        CONFIG.replace(score_threshold=0.3),
        extractor,
    )
    assert sorted(s.rank for s in ranked) == [1, 2, 3]
    by_provider = {s.provider: s for s in ranked}
    # The original dataset beats the one whose labels are all shuffled.
    assert by_provider[0].accuracy > by_provider[2].accuracy + 0.2
    assert by_provider[2].eligible is False
    assert optimal_provider(ranked) == ranked[0].provider
    # M_eval of the best provider (its first replica) reloads and scores as reported on the
    # scoring split.
    head, depth = pipeline.load_m_eval(m_evals[0])
    m_init = pipeline.load_m_init(m_init_bytes)
    _, scoring = pipeline.split_validation(task.validation_y, CONFIG.tuning_fraction, CONFIG.seed)
    activated = after_layer(
        depth, pipeline.collector_features(m_init, depth, task.validation_x[scoring])
    )
    accuracy = float(np.mean(np.argmax(head(activated), -1) == task.validation_y[scoring]))
    best = by_provider[0]
    assert (
        min(
            abs(accuracy - best.accuracy - best.accuracy_spread),
            abs(accuracy - best.accuracy + best.accuracy_spread),
        )
        < 1e-5
    )
    with pytest.raises(QualityError, match="is a 'features' file, expected a 'm_eval' file"):
        pipeline.load_m_eval(features[0])


def test_baselines_score_every_dataset(task, m_init_bytes):
    m_init = pipeline.load_m_init(m_init_bytes)
    datasets = [
        pipeline.provider_dataset(CONFIG, task, "mislabel", level, seed=0) for level in (0, 10)
    ]
    tune, score = pipeline.split_validation(task.validation_y, 0.5, 0)
    # Padded like `bench selection` pads (11 providers), so both share one compiled program.
    result = train_from_scratch(
        m_init.arch,
        datasets,
        (task.validation_x[tune], task.validation_y[tune]),
        (task.validation_x[score], task.validation_y[score]),
        CONFIG,
        0,
        len(CONFIG.task_classes),
        rows=len(task.pool_x),
        providers=11,
    )
    budget = CONFIG.budget()
    assert result.score_accuracy.shape == (
        2,
        len(budget.learning_rates),
        budget.checkpoints,
        CONFIG.replicas,
    )
    chosen = result.chosen()
    assert chosen["score_accuracy"].shape == (2, CONFIG.replicas)
    assert chosen["score_accuracy"][0].mean() > chosen["score_accuracy"][1].mean()


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_decoded_features_equal_m_init_features(task, m_init_bytes, depth):
    extractor, secret_bytes = pipeline.publish(m_init_bytes, depth, seed=depth)
    secret = pipeline.load_secret(secret_bytes).secret
    x = task.validation_x[:50]
    features = pipeline.load_features(
        pipeline.extract_features(extractor, x, task.validation_y[:50])
    ).features
    plain = np.asarray(pipeline.load_m_init(m_init_bytes).model().features(x, depth))
    assert not np.allclose(features, plain, atol=1e-2)
    decoded = (features - secret.sigma) / secret.delta
    np.testing.assert_allclose(decoded, plain, rtol=1e-4, atol=1e-4 * np.abs(plain).max())


def test_extraction_is_deterministic_and_row_independent(task, published):
    extractor, _ = published
    x, y, rows = sample(task, "noise", 3)
    first = pipeline.extract_features(extractor, x, y, rows)
    assert first == pipeline.extract_features(extractor, x, y, rows)
    whole = pipeline.load_features(pipeline.extract_features(extractor, x, y)).features
    np.testing.assert_array_equal(pipeline.load_features(first).features, whole[rows])


def test_review_rejects_an_altered_image_or_label(task, published):
    extractor, _ = published
    x, y, rows = sample(task, "mislabel", 0)
    blob = pipeline.extract_features(extractor, x, y, rows)
    altered = x[rows].copy()
    altered[3] = np.clip(altered[3] + 0.2, 0, 1)
    assert not pipeline.review(extractor, altered, y[rows], blob)
    relabelled = y[rows].copy()
    relabelled[0] = (relabelled[0] + 1) % 5
    assert not pipeline.review(extractor, x[rows], relabelled, blob)


def test_secret_file_is_private(tmp_path, published):
    _, secret = published
    checkpoints.write_bytes(tmp_path / "secret.bin", secret, secret=True)
    assert stat.S_IMODE(os.stat(tmp_path / "secret.bin").st_mode) == 0o600


# ---------------------------------------------------------------- bad inputs


def test_rejects_features_from_another_extractor(task, m_init_bytes, published):
    _, secret = published
    other_extractor, _ = pipeline.publish(m_init_bytes, depth=2, seed=99)
    x, y, rows = sample(task, "mislabel", 0)
    foreign = pipeline.extract_features(other_extractor, x, y, rows)
    with pytest.raises(
        QualityError,
        match=r"features file #1 was extracted with extractor \w+, but the secret belongs to",
    ):
        pipeline.score_providers(
            secret, m_init_bytes, [foreign], (task.validation_x, task.validation_y), CONFIG
        )


def test_rejects_secret_not_matching_extractor(task, m_init_bytes, published):
    extractor, secret = published
    other_extractor, other_secret = pipeline.publish(m_init_bytes, depth=2, seed=98)
    x, y, rows = sample(task, "mislabel", 0)
    features = pipeline.extract_features(extractor, x, y, rows)
    with pytest.raises(QualityError, match=r"the secret belongs to extractor \w+, not to"):
        pipeline.score_providers(
            secret,
            m_init_bytes,
            [features],
            (task.validation_x, task.validation_y),
            CONFIG,
            other_extractor,
        )


def test_rejects_secret_from_another_m_init(task, published):
    _, secret = published
    other_m_init = pipeline.pretrain(CONFIG.replace(pretrain_steps=0), task, seed=5)
    with pytest.raises(QualityError, match="the secret was made from M_init"):
        pipeline.score_providers(
            secret, other_m_init, [b""], (task.validation_x, task.validation_y), CONFIG
        )


def test_rejects_corrupted_checkpoints(m_init_bytes):
    flipped = bytearray(m_init_bytes)
    flipped[len(flipped) // 2] ^= 0xFF
    with pytest.raises(QualityError, match=r"M_init checkpoint: corrupted"):
        pipeline.load_m_init(bytes(flipped))
    with pytest.raises(
        QualityError, match=r"M_init checkpoint: corrupted or not a HyperX m_init file"
    ):
        pipeline.load_m_init(m_init_bytes[: len(m_init_bytes) // 3])
    with pytest.raises(QualityError, match="is a 'm_init' file, expected a 'extractor' file"):
        pipeline.load_extractor(m_init_bytes)


def test_rejects_wrong_image_shape(published):
    extractor, _ = published
    with pytest.raises(
        QualityError,
        match=r"images must have shape \(N, 8, 8\) for this extractor, got \(4, 9, 9\)",
    ):
        pipeline.extract_features(extractor, np.zeros((4, 9, 9)), np.zeros(4, int))


def test_rejects_missing_labels(task, m_init_bytes, published):
    extractor, secret = published
    with pytest.raises(
        QualityError, match="every image needs one label: 4 images but labels of shape"
    ):
        pipeline.extract_features(extractor, np.zeros((4, 8, 8)), np.zeros(3, int))
    with pytest.raises(QualityError, match=r"labels must be integers in 0\.\.4"):
        pipeline.extract_features(extractor, np.zeros((4, 8, 8)), np.array([0, 1, -1, 2]))
    extractor_hash = checkpoints.content_hash(extractor)
    no_labels = checkpoints.dump(
        "features",
        {
            "features": np.zeros((2, 4, 4, 8), np.float32),
            "indices": np.arange(2),
            "extractor_sha256": extractor_hash,
        },
    )
    with pytest.raises(QualityError, match="features file #1: has no labels"):
        pipeline.score_providers(
            secret, m_init_bytes, [no_labels], (task.validation_x, task.validation_y), CONFIG
        )
    short = checkpoints.dump(
        "features",
        {
            "features": np.zeros((2, 4, 4, 8), np.float32),
            "labels": np.zeros(1, np.int32),
            "indices": np.arange(2),
            "extractor_sha256": extractor_hash,
        },
    )
    with pytest.raises(QualityError, match=r"2 feature rows but 1 labels \(a label is missing\)"):
        pipeline.score_providers(
            secret, m_init_bytes, [short], (task.validation_x, task.validation_y), CONFIG
        )


def test_rejects_features_of_wrong_shape(task, m_init_bytes, published):
    extractor, secret = published
    wrong = checkpoints.dump(
        "features",
        {
            "features": np.zeros((2, 3), np.float32),
            "labels": np.zeros(2, np.int32),
            "indices": np.arange(2),
            "extractor_sha256": checkpoints.content_hash(extractor),
        },
    )
    with pytest.raises(
        QualityError, match=r"features of shape \(2, 3\), expected \(n>0, 4, 4, 8\)"
    ):
        pipeline.score_providers(
            secret, m_init_bytes, [wrong], (task.validation_x, task.validation_y), CONFIG
        )


def test_rejects_bad_validation_and_depth_and_indices(task, m_init_bytes, published):
    extractor, secret = published
    x, y, rows = sample(task, "mislabel", 0)
    features = pipeline.extract_features(extractor, x, y, rows)
    with pytest.raises(QualityError, match=r"validation images must be \(N, 8, 8\) with N labels"):
        pipeline.score_providers(
            secret, m_init_bytes, [features], (task.validation_x[:, :4], task.validation_y), CONFIG
        )
    with pytest.raises(QualityError, match=r"extractor depth K must be 1\.\.3"):
        pipeline.publish(m_init_bytes, depth=4, seed=0)
    with pytest.raises(
        QualityError, match=r"sample indices must be a non-empty list within 0\.\.537"
    ):
        pipeline.extract_features(extractor, x, y, [0, 538])


# ---------------------------------------------------------------- datasets and scoring


def test_corruption_families_degrade_from_the_original(task):
    x, y = task.pool_x, task.pool_y
    for family, strengths in corruptions.FAMILIES.items():
        datasets = [
            corruptions.corrupt(x, y, family, level, 0, 5) for level in range(len(strengths))
        ]
        np.testing.assert_array_equal(datasets[0][0], x)
        changed = [np.mean((cx != x).any(axis=(1, 2)) | (cy != y)) for cx, cy in datasets]
        assert changed[0] == 0 and changed[-1] > 0.5, family
        for cx, cy in datasets:
            assert cx.shape == x.shape and cy.shape == y.shape and cx.min() >= 0 and cx.max() <= 1
    shuffled = corruptions.corrupt(x, y, "mislabel", 10, 0, 5)[1]
    assert np.array_equal(np.sort(shuffled), np.sort(y)) and np.mean(shuffled != y) > 0.6
    zeroed = corruptions.corrupt(x, y, "pixels", 5, 0, 5)[0]
    assert abs(np.mean((zeroed == 0) & (x != 0)) / np.mean(x != 0) - 0.5) < 0.05
    areas = [np.prod(corruptions.decimated_size(8, 8, s)) for s in corruptions.FAMILIES["decimate"]]
    assert areas == sorted(areas, reverse=True) and len(set(areas)) == len(areas)


def test_rejects_unknown_family_and_level(task):
    with pytest.raises(QualityError, match="unknown corruption family 'blur'"):
        corruptions.corrupt(task.pool_x, task.pool_y, "blur", 1, 0, 5)
    with pytest.raises(QualityError, match=r"level 10 out of range for 'noise' \(0\.\.9\)"):
        corruptions.corrupt(task.pool_x, task.pool_y, "noise", 10, 0, 5)


def test_selection_accuracy_counts_groups_and_ties():
    falling = np.linspace(1.0, 0.5, 11)
    assert selection_accuracy(falling, -falling) == (1.0, 462)
    assert selection_accuracy(falling[::-1].copy(), falling.copy())[0] == 0.0
    tied = np.ones(10)
    assert selection_accuracy(tied, tied) == (pytest.approx(1 / 5), 252)


def test_task_split_is_disjoint_and_relabelled(task):
    assert set(np.unique(task.pretrain_y)) == set(range(5)) == set(np.unique(task.pool_y))
    assert len(task.validation_x) == pytest.approx(
        0.4 * (len(task.pool_x) + len(task.validation_x)), abs=1
    )


# ---------------------------------------------------------------- loaders


def write_idx(path, array, gz):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    (gzip.open if gz else open)(path, "wb").write(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize("gz", [False, True])
def test_loads_mnist_idx_files(tmp_path, gz):
    suffix = ".gz" if gz else ""
    for prefix, n in (("train", 6), ("t10k", 4)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte{suffix}", np.full((n, 28, 28), 255), gz)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte{suffix}", np.arange(n) % 10, gz)
    x, y = data.load_images(tmp_path)
    assert (
        x.shape == (10, 28, 28) and x.max() == 1.0 and y.tolist() == [0, 1, 2, 3, 4, 5, 0, 1, 2, 3]
    )


def test_loads_npz_and_class_folders(tmp_path):
    from PIL import Image

    data.save_npz(tmp_path / "d.npz", np.zeros((3, 8, 8)), np.array([1, 2, 3]))
    x, y = data.load_images(tmp_path / "d.npz")
    assert x.shape == (3, 8, 8) and y.tolist() == [1, 2, 3]
    for label in ("3", "7"):
        (tmp_path / "folder" / label).mkdir(parents=True)
        Image.fromarray(np.full((8, 8), 255, np.uint8)).save(tmp_path / "folder" / label / "a.png")
    x, y = data.load_images(tmp_path / "folder")
    assert x.shape == (2, 8, 8) and sorted(y.tolist()) == [3, 7] and x.max() == 1.0


def test_rejects_bad_data_files(tmp_path):
    np.savez(tmp_path / "nolabels.npz", x=np.zeros((2, 8, 8)))
    with pytest.raises(QualityError, match="missing array 'y'"):
        data.load_images(tmp_path / "nolabels.npz")
    np.savez(tmp_path / "short.npz", x=np.zeros((2, 8, 8)), y=np.zeros(1, int))
    with pytest.raises(QualityError, match=r"labels must have shape \(2,\), got \(1,\)"):
        data.load_images(tmp_path / "short.npz")
    with pytest.raises(QualityError, match="no such file or folder"):
        data.load_images(tmp_path / "absent")
    (tmp_path / "mnist").mkdir()
    write_idx(tmp_path / "mnist" / "train-images-idx3-ubyte", np.zeros((2, 4, 4)), False)
    with pytest.raises(
        QualityError, match="missing train-images-idx3-ubyte or train-labels-idx1-ubyte"
    ):
        data.load_images(tmp_path / "mnist")
