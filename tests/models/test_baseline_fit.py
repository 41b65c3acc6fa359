"""The baseline's logistic regression stops at its optimum, never at its iteration cap."""

import numpy as np
import pytest
from conftest import bag_params

from imdb_sentiment.models.baseline import NotConvergedError, fit_classifier


def separable_enough():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 20))
    y = (x[:, 0] + 0.5 * rng.normal(size=200) > 0).astype(int)
    return x, y


@pytest.mark.parametrize("weighting", ["tfidf", "nb"])
def test_a_fit_converges_well_before_its_cap(weighting):
    x, y = separable_enough()
    classifier = fit_classifier("tfidf", x, y, bag_params(weighting, max_iter=1000), c=1.0, seed=0)
    assert classifier.n_iter_.max() < 1000
    assert classifier.score(x, y) > 0.8


@pytest.mark.parametrize("weighting", ["tfidf", "nb"])
def test_a_fit_cut_off_by_max_iter_is_an_error_naming_the_param(weighting):
    x, y = separable_enough()
    with pytest.raises(NotConvergedError, match=r"raise baselines\.tfidf\.max_iter"):
        fit_classifier("tfidf", x, y, bag_params(weighting, max_iter=2), c=64.0, seed=0)
