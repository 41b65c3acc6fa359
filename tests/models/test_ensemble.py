"""Ensembles: weights picked on validation only, and scores that are exactly their members'
weighted mean, whether computed from saved scores or served from raw text."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import fit_bag
from sklearn.pipeline import Pipeline

from imdb_sentiment.evaluation.scoring import SCORES_FILE, ensemble_scores
from imdb_sentiment.evaluation.weights import pick_weights, weight_grid
from imdb_sentiment.models.nb_weighting import NBLogCountRatio
from imdb_sentiment.serving.pipeline_file import save_pipeline
from imdb_sentiment.serving.predictors import (
    ENSEMBLE_FILE,
    PIPELINE_FILE,
    EnsemblePredictor,
    PipelinePredictor,
    load_predictor,
)

TRAIN = pd.DataFrame(
    {
        "text": ["good fun", "great film", "not good", "bad film", "dull, bad", "loved it"],
        "label": [1, 1, 0, 0, 0, 1],
    }
)
REVIEWS = ["good and great", "bad, dull film", "not bad", "A film."]


def bag(ngram_max: int, weighting: str) -> Pipeline:
    return fit_bag(TRAIN.text, TRAIN.label, weighting, ngram_max)


def test_the_weight_grid_covers_the_simplex_in_steps():
    assert weight_grid(2, 0.25) == [(0, 1), (0.25, 0.75), (0.5, 0.5), (0.75, 0.25), (1, 0)]
    three = weight_grid(3, 0.5)
    assert len(three) == 6 and all(sum(w) == pytest.approx(1) for w in three)


def test_weights_are_picked_on_validation_and_equal_weights_need_no_search():
    labels = np.array([1, 1, 0, 0])
    right = np.array([0.9, 0.8, 0.1, 0.2])  # all right
    wrong = np.array([0.1, 0.2, 0.9, 0.8])  # all wrong
    weights, metrics = pick_weights({"a": right, "b": wrong}, labels, "validation", 0.1)
    assert weights == {"a": 1.0, "b": 0.0} and metrics["accuracy"] == 1
    equal, _ = pick_weights({"a": right, "b": wrong}, labels, "equal", 0.1)
    assert equal == {"a": 0.5, "b": 0.5}


def test_the_nb_ratio_scales_each_feature_by_its_class_log_count_ratio():
    x = np.array([[1, 0], [1, 1], [0, 1]])
    y = np.array([1, 1, 0])
    ratio = NBLogCountRatio(alpha=1).fit(x, y).ratio_
    p, q = np.array([3, 2]) / 5, np.array([1, 2]) / 3
    np.testing.assert_allclose(ratio, np.log(p / q), rtol=1e-6)
    np.testing.assert_allclose(NBLogCountRatio().fit(x, y).transform(x).toarray(), x * ratio)


def write_bag(folder, pipeline):
    folder.mkdir(parents=True)
    save_pipeline(pipeline, folder / PIPELINE_FILE)


def test_a_served_ensemble_is_its_members_weighted_mean_and_so_are_its_saved_scores(tmp_path):
    members = {"uni": bag(1, "tfidf"), "nb": bag(2, "nb")}
    weights = {"uni": 0.3, "nb": 0.7}
    folder = tmp_path / "ensemble"
    for name, pipeline in members.items():
        write_bag(folder / "members" / name, pipeline)
    (folder / ENSEMBLE_FILE).write_text(json.dumps({"weights": weights}))
    served = load_predictor(folder)
    assert isinstance(served, EnsemblePredictor)
    alone = {n: PipelinePredictor(p).positive_probability(REVIEWS) for n, p in members.items()}
    expected = 0.3 * alone["uni"] + 0.7 * alone["nb"]
    np.testing.assert_allclose(served.positive_probability(REVIEWS), expected, atol=1e-6)
    # From the members' saved scores (float32), as score_ensemble@NAME computes it.
    saved = {}
    for name, scores in alone.items():
        saved[name] = tmp_path / "scores" / name
        saved[name].mkdir(parents=True)
        np.savez(saved[name] / SCORES_FILE, test=scores.astype(np.float32))
    combined = ensemble_scores(weights, saved)
    assert combined["test"].dtype == np.float32
    np.testing.assert_allclose(combined["test"], expected, atol=1e-6)
