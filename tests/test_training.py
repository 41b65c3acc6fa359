import numpy as np
import pytest

from imdb_sentiment.params import ArchParams, TrainParams
from imdb_sentiment.training import (
    ResumableEarlyStopping,
    bucketed_batches,
    make_dataset,
    seed_everything,
)

TRAIN = TrainParams(batch_size=8, epochs=1, learning_rate=0.01, embedding_dim=4, patience=1)


def tiny_arrays():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 50, size=(32, 12)).astype(np.int32)
    x[::2, 8:] = 0  # right padding on half the reviews
    return x, (x[:, 0] > 25).astype(np.int32)


@pytest.mark.parametrize("arch", ["simple_rnn", "lstm", "gru", "bilstm"])
def test_same_seed_same_data_gives_identical_weights(arch):
    from imdb_sentiment.models import build_model

    x, y = tiny_arrays()
    weights = []
    for _ in range(2):
        seed_everything(3)
        model = build_model(arch, 50, TRAIN, ArchParams(units=4, dropout=0.2, pooling="last"))
        data, steps = make_dataset(x, y, 8, seed=3, epochs=2)
        model.fit(data, steps_per_epoch=steps, epochs=2, verbose=0, shuffle=False)
        weights.append(model.get_weights())
    for first, second in zip(*weights, strict=True):
        np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize(("arch", "pooling"), [("gru", "last"), ("bilstm", "mean")])
def test_padding_does_not_change_a_recurrent_prediction(arch, pooling):
    # Right padding is masked: a review scores the same whatever max_len it was padded to.
    from imdb_sentiment.models import build_model

    seed_everything(0)
    model = build_model(arch, 50, TRAIN, ArchParams(units=4, dropout=0.0, pooling=pooling))
    short = np.array([[5, 9, 13, 0, 0]], dtype=np.int32)
    longer = np.array([[5, 9, 13] + [0] * 40], dtype=np.int32)
    assert model.predict(short, verbose=0) == pytest.approx(model.predict(longer, verbose=0))


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
