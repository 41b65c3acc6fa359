import keras
import numpy as np
import pytest

from imdb_sentiment.models.batches import SplitArrays, bucketed_batches, make_dataset
from imdb_sentiment.models.networks import build_model
from imdb_sentiment.models.training import ResumableEarlyStopping, fit_recurrent, seed_everything
from imdb_sentiment.params import ModelParams
from imdb_sentiment.serving.keras_layers import LastRealStep, ReverseRealSteps

SPEC = ModelParams(
    arch="gru",
    vocab_size=50,
    embedding_dim=4,
    embedding_init="random",
    embedding_dropout=0.2,
    word_dropout=0.0,
    units=4,
    layers=1,
    dropout=0.2,
    pooling="last",
    batch_size=8,
    learning_rate=0.01,
    lr_schedule="constant",
)


def tiny_arrays():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 50, size=(32, 12)).astype(np.int32)
    x[::2, 8:] = 0  # right padding on half the reviews
    return x, (x[:, 0] > 25).astype(np.int32)


def tiny_split() -> SplitArrays:
    x, y = tiny_arrays()
    return SplitArrays(x[:24], y[:24], x[24:], y[24:])


@pytest.mark.parametrize("arch", ["simple_rnn", "lstm", "gru", "bilstm"])
def test_same_seed_same_data_gives_identical_weights(arch):
    x, y = tiny_arrays()
    weights = []
    for _ in range(2):
        seed_everything(3)
        model = build_model(arch, SPEC.model_copy(update=dict(arch=arch)), 4, 2, seed=3)
        data, steps = make_dataset(x, y, 8, seed=3, epochs=2)
        model.fit(data, steps_per_epoch=steps, epochs=2, verbose=0, shuffle=False)
        weights.append(model.get_weights())
    for first, second in zip(*weights, strict=True):
        np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
@pytest.mark.parametrize("arch", ["simple_rnn", "lstm", "gru", "bilstm"])
def test_a_review_scores_the_same_alone_and_inside_a_padded_batch(arch, pooling, layers):
    # No mask: padding is handled exactly (the last real step gathered, pooling over the real
    # steps, the backward pass over each review's real steps reversed in place), so a review
    # scores the same whatever batch it is in and however much padding that batch adds.
    spec = SPEC.model_copy(update=dict(arch=arch, pooling=pooling, layers=layers))
    seed_everything(0)
    model = build_model(arch, spec, 4, 1, seed=0)
    alone = np.array([[5, 9, 13]], dtype=np.int32)
    batch = np.zeros((3, 40), dtype=np.int32)
    batch[0, :3] = [5, 9, 13]
    batch[1, :40] = np.arange(1, 41)  # a long neighbour forces 37 padded steps on the first
    batch[2, :7] = 7
    scores_alone = keras.ops.convert_to_numpy(model(alone, training=False))
    scores_batch = keras.ops.convert_to_numpy(model(batch, training=False))
    np.testing.assert_allclose(scores_batch[0], scores_alone[0], atol=1e-5)
    assert abs(float(scores_batch[0, 0]) - float(scores_batch[1, 0])) > 0  # not a constant


def test_the_backward_pass_reads_each_review_from_its_last_real_word():
    ids = np.array([[5, 9, 13, 0, 0], [2, 0, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=np.int32)
    steps = ids[..., None].astype(np.float32)  # each step carries its own id
    flipped = keras.ops.convert_to_numpy(ReverseRealSteps()(steps, ids))[..., 0]
    np.testing.assert_array_equal(flipped, [[13, 9, 5, 0, 0], [2, 0, 0, 0, 0], [0] * 5])
    last = keras.ops.convert_to_numpy(LastRealStep()(steps, ids))[:, 0]
    np.testing.assert_array_equal(last, [13, 2, 0])  # no real step: zeros


def test_masked_max_pooling_ignores_padding_and_survives_saving(tmp_path):
    spec = SPEC.model_copy(update=dict(arch="bilstm", pooling="max"))
    seed_everything(0)
    model = build_model("bilstm", spec, 4, 1, seed=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    ids = np.array([[5, 9, 13, 0, 0, 0]], dtype=np.int32)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(ids)), keras.ops.convert_to_numpy(model(ids)), atol=1e-7
    )


@pytest.mark.parametrize(
    "spec",
    [SPEC, SPEC.model_copy(update=dict(arch="dan", pooling="mean", layers=2, word_dropout=0.3))],
    ids=["gru", "dan_word_dropout"],
)
def test_a_resumed_training_is_bit_identical_to_an_uninterrupted_one(tmp_path, spec):
    # Dropout on (words, embedding and pooled vector) and Adam state: everything a resume must
    # restore.
    arrays = tiny_split()
    seed_everything(5)
    straight = build_model(spec.arch, spec, 3, 3, seed=5)
    fit_recurrent(straight, spec, arrays, 5, 3, [])

    seed_everything(5)
    first = build_model(spec.arch, spec, 3, 3, seed=5)
    fit_recurrent(first, spec, arrays, 5, 2, [])
    first.save(tmp_path / "last.keras")
    keras.backend.clear_session()
    resumed = keras.models.load_model(tmp_path / "last.keras")
    fit_recurrent(resumed, spec, arrays, 5, 3, [], initial_epoch=2)
    for a, b in zip(straight.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_cosine_schedule_decays_to_zero_over_the_epoch_budget():
    spec = SPEC.model_copy(update=dict(lr_schedule="cosine", learning_rate=0.01))
    model = build_model("gru", spec, steps_per_epoch=10, epochs=3, seed=0)
    schedule = (
        model.optimizer.learning_rate_schedule
        if hasattr(model.optimizer, "learning_rate_schedule")
        else model.optimizer._learning_rate
    )
    assert float(schedule(0)) == pytest.approx(0.01)
    assert float(schedule(30)) == pytest.approx(0.0, abs=1e-9)


def test_early_stopping_state_survives_a_restart():
    stopper = ResumableEarlyStopping(
        resume={"wait": 1, "best": 0.42, "best_epoch": 3, "best_weights": [np.zeros(2)]},
        monitor="val_loss",
        patience=2,
        restore_best_weights=True,
    )
    stopper.on_train_begin()
    assert stopper.state() == {"wait": 1, "best": 0.42, "best_epoch": 3}
    assert stopper.best_weights[0].tolist() == [0.0, 0.0]


def test_bucketed_batches_cover_every_review_once_and_only_cut_padding():
    x, y = tiny_arrays()
    lengths = (x != 0).sum(axis=1)
    plan = bucketed_batches(lengths, batch_size=5, seed=1)
    assert sorted(np.concatenate(plan).tolist()) == list(range(len(x)))
    data, steps = make_dataset(x, y, 5, seed=1)
    assert steps == len(plan)
    for (bx, by), rows in zip(data.as_numpy_iterator(), plan, strict=True):
        assert (x[rows, bx.shape[1] :] == 0).all()  # only padding was cut
        np.testing.assert_array_equal(bx, x[rows, : bx.shape[1]])
        np.testing.assert_array_equal(by, y[rows])


def test_each_epoch_reshuffles_and_a_resumed_epoch_matches_an_uninterrupted_run():
    x, y = tiny_arrays()
    running, steps = make_dataset(x, y, 5, seed=1, epochs=3)
    batches = [b[1].tolist() for b in running.as_numpy_iterator()]
    epochs = [batches[i * steps : (i + 1) * steps] for i in range(3)]
    assert epochs[0] != epochs[1]
    resumed, _ = make_dataset(x, y, 5, seed=1, first_epoch=2)
    assert [b[1].tolist() for b in resumed.as_numpy_iterator()] == epochs[2]
