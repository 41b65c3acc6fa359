from collections import Counter

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, fit_bag
from sklearn.pipeline import Pipeline

from imdb_sentiment.data.prepare import read_reviews
from imdb_sentiment.data.text import tokenize
from imdb_sentiment.evaluation.intervals import (
    CONFIDENCE,
    RESAMPLES,
    bootstrap_interval,
    classification_metrics,
    mean_statistic,
    metric_intervals,
    metric_statistic,
    paired_difference,
)
from imdb_sentiment.evaluation.model_evaluation import (
    WINDOWS,
    ContrastSetError,
    contrast_reviews,
    evaluate_predictor,
    evaluate_scores,
    evaluation_data,
    load_contrast_pairs,
    natural_subsets,
    score_texts,
    shuffle_words,
    window_key,
)
from imdb_sentiment.evaluation.probes import load_probes, write_probes
from imdb_sentiment.serving.predictors import PipelinePredictor

SHIPPED_PAIRS = REPO / "data" / "contrast" / "pairs.tsv"
SUITES = REPO / "data" / "suites" / "suites.yaml"
REVIEWS = ["The plot was not good, just bad.", "A wonderful <br />film; I loved every minute!"]


def test_shuffle_is_seeded_keeps_every_token_and_changes_order():
    first, again = shuffle_words(REVIEWS, seed=1), shuffle_words(REVIEWS, seed=1)
    assert first == again
    assert shuffle_words(REVIEWS, seed=2) != first
    for original, shuffled in zip(REVIEWS, first, strict=True):
        assert Counter(tokenize(shuffled)) == Counter(tokenize(original))
    assert [tokenize(s) for s in first] != [tokenize(r) for r in REVIEWS]


def test_shuffle_of_a_review_does_not_depend_on_its_batch():
    # Seeded per review index: the same review at the same position shuffles the same way.
    assert shuffle_words(REVIEWS, seed=5)[0] == shuffle_words(REVIEWS[:1], seed=5)[0]


def test_every_shipped_pair_has_the_same_bag_of_words_and_opposite_labels():
    pairs = load_contrast_pairs(SHIPPED_PAIRS)
    assert len(pairs) >= 50
    for pair in pairs.itertuples():
        assert Counter(tokenize(pair.text_a)) == Counter(tokenize(pair.text_b)), pair.pair_id
        assert tokenize(pair.text_a) != tokenize(pair.text_b), pair.pair_id
        assert {pair.label_a, pair.label_b} == {"positive", "negative"}
    reviews = contrast_reviews(pairs)
    assert len(reviews) == 2 * len(pairs)
    assert reviews.groupby("pair_id").label.sum().eq(1).all()


def test_a_pair_with_different_words_is_rejected(tmp_path):
    bad = tmp_path / "pairs.tsv"
    bad.write_text(
        "pair_id\tlabel_a\ttext_a\tlabel_b\ttext_b\n1\tpositive\tgood film\tnegative\tbad film\n"
    )
    with pytest.raises(ContrastSetError, match="pair 1: the two texts do not have the same words"):
        load_contrast_pairs(bad)


def test_classification_metrics_on_known_predictions():
    labels = np.array([1, 1, 0, 0])
    probabilities = np.array([0.9, 0.4, 0.2, 0.6])
    metrics = classification_metrics(labels, probabilities)
    assert metrics["accuracy"] == 0.5
    assert metrics["precision"] == 0.5 and metrics["recall"] == 0.5 and metrics["f1"] == 0.5
    assert metrics["roc_auc"] == 0.75
    assert metrics["log_loss"] > 0


@pytest.fixture(scope="module")
def tiny_evaluation(tiny_archive, tmp_path_factory):
    reviews = read_reviews(tiny_archive, scratch=tmp_path_factory.mktemp("scratch"))[0]
    train = reviews[reviews.split == "train"].reset_index(drop=True)
    test = reviews[reviews.split == "test"].reset_index(drop=True)
    data = evaluation_data(test.iloc[:10], test, SHIPPED_PAIRS, seed=0, suites_path=SUITES)
    return train, data


def unigram_pipeline(train: pd.DataFrame, weighting: str = "tfidf") -> Pipeline:
    return fit_bag(train.text, train.label, weighting)


@pytest.mark.parametrize("weighting", ["tfidf", "nb"])
def test_a_unigram_bag_of_words_cannot_see_order_and_the_numbers_show_it_exactly(
    tiny_evaluation, weighting
):
    train, data = tiny_evaluation
    pipeline = unigram_pipeline(train, weighting)
    metrics = evaluate_predictor(PipelinePredictor(pipeline), data).metrics
    assert metrics["shuffled_test_accuracy"] == metrics["test_accuracy"]
    assert metrics["shuffled_accuracy_drop"] == 0
    assert metrics["shuffled_max_probability_change"] == 0
    assert metrics["contrast_pair_accuracy"] == 0
    assert metrics["contrast_accuracy"] == 0.5
    # The order curve of a unigram bag of words is exactly flat...
    curve = [metrics[f"window_{window_key(k)}_accuracy"] for k in WINDOWS]
    assert curve == [metrics["test_accuracy"]] * len(WINDOWS)
    # ...and it can get at most one review of a same-words pair right.
    assert metrics["suite_contrast_group_accuracy"] == metrics["suite_order_group_accuracy"] == 0
    for name in ("negation", "contrast", "order", "filler"):
        low, high = (
            metrics[f"suite_{name}_accuracy_ci_low"],
            metrics[f"suite_{name}_accuracy_ci_high"],
        )
        assert low <= metrics[f"suite_{name}_accuracy"] <= high
    for name in ("length_q1", "length_q4"):
        assert 0 <= metrics[f"subset_{name}_accuracy"] <= 1


def test_a_window_of_one_is_the_review_and_a_window_shuffles_only_inside_itself():
    assert shuffle_words(REVIEWS, seed=3, window=1) == [" ".join(tokenize(r)) for r in REVIEWS]
    long_review = " ".join(f"w{i}" for i in range(50))
    (shuffled,) = shuffle_words([long_review], seed=3, window=4)
    tokens, original = shuffled.split(), tokenize(long_review)
    assert tokens != original
    for start in range(0, 50, 4):
        assert sorted(tokens[start : start + 4]) == sorted(original[start : start + 4])
    assert shuffle_words(REVIEWS, seed=3, window=None) == shuffle_words(REVIEWS, seed=3)


def test_natural_subsets_find_contrast_endings_negation_and_length_quartiles():
    test = pd.DataFrame(
        {
            "text": [
                "Great cast. But the plot was dull and the ending worse.",
                "I did not find it good at all.",
                "A fine film. However, I have seen better ones.",
                "Wonderful from start to finish, a real treat for the whole family to see.",
            ]
        }
    )
    subsets = natural_subsets(test, {"good", "dull", "wonderful"})
    assert subsets["contrast_ending"].tolist() == [True, False, True, False]
    assert subsets["negated_sentiment"].tolist() == [False, True, False, False]
    quartiles = np.stack([subsets[f"length_q{q}"] for q in range(1, 5)])
    assert (quartiles.sum(axis=0) == 1).all()  # every review in exactly one quartile
    assert subsets["length_q4"].tolist() == [False, False, False, True]


@pytest.mark.parametrize("name", ["accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"])
def test_bootstrap_statistics_equal_scikit_learn_on_the_whole_sample(name):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 500)
    probabilities = np.clip(labels * 0.3 + rng.random(500) * 0.7, 0, 1)
    expected = classification_metrics(labels, probabilities)[name]
    assert metric_statistic(name)(labels, probabilities) == pytest.approx(expected, rel=1e-9)
    rows = np.stack([labels, labels[::-1]])  # two "resamples" at once, as bootstrap passes them
    both = metric_statistic(name)(rows, np.stack([probabilities, probabilities[::-1]]), axis=-1)
    assert both == pytest.approx([expected, expected], rel=1e-9)


@pytest.mark.parametrize("n", [2, 7, 1821, 25_000])
def test_accuracy_intervals_are_scipys_bootstrap_number_for_number(n):
    """Accuracies and paired differences take a shortcut (counts of each row's draws); it
    must give scipy.stats.bootstrap's own intervals, to the last bit."""
    from scipy import stats

    rng = np.random.default_rng(n)
    a, b = (rng.random(n) < 0.9).astype(float), (rng.random(n) < 0.85).astype(float)

    def scipy_interval(statistic, samples, seed):
        result = stats.bootstrap(
            samples,
            statistic,
            n_resamples=RESAMPLES,
            batch=100,
            vectorized=True,
            paired=True,
            confidence_level=CONFIDENCE,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
        return float(result.confidence_interval.low), float(result.confidence_interval.high)

    def difference(x, y, axis=-1):
        return np.mean(x, axis=axis) - np.mean(y, axis=axis)

    for seed in (0, 42):
        assert bootstrap_interval(mean_statistic, (a,), seed) == scipy_interval(
            mean_statistic, (a,), seed
        )
        paired = paired_difference(a, b, seed)
        assert (paired["ci_low"], paired["ci_high"]) == scipy_interval(difference, (a, b), seed)
    fractions = a * 0.5  # not 0/1: scipy's own path, the same numbers again
    assert bootstrap_interval(mean_statistic, (fractions,), 3) == scipy_interval(
        mean_statistic, (fractions,), 3
    )


def test_intervals_hold_the_estimate_and_a_paired_difference_is_exact_for_a_copy():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 2000)
    probabilities = np.clip(labels * 0.4 + rng.random(2000) * 0.6, 0, 1)
    intervals = metric_intervals(labels, probabilities, seed=0)
    point = classification_metrics(labels, probabilities)
    for name, value in point.items():
        assert intervals[f"test_{name}_ci_low"] <= value <= intervals[f"test_{name}_ci_high"]
    width = intervals["test_accuracy_ci_high"] - intervals["test_accuracy_ci_low"]
    assert 0.02 < width < 0.06  # about 4 binomial standard errors at n=2000
    assert metric_intervals(labels, probabilities, seed=0) == intervals  # seeded
    right = (probabilities >= 0.5) == labels
    assert paired_difference(right, right, seed=0) == {
        "difference": 0.0,
        "ci_low": 0.0,
        "ci_high": 0.0,
    }
    flipped = right.copy()
    flipped[:100] = ~flipped[:100]
    diff = paired_difference(right, flipped, seed=0)
    assert diff["ci_low"] <= diff["difference"] <= diff["ci_high"]


def test_a_sampled_order_curve_shuffles_the_same_reviews_for_every_window(tiny_evaluation):
    train, full = tiny_evaluation
    sampled = evaluation_data(
        full.val, full.test, SHIPPED_PAIRS, seed=0, suites_path=SUITES, window_reviews=20
    )
    assert len(sampled.window_index) == 20 and (np.diff(sampled.window_index) > 0).all()
    for texts in sampled.window_texts.values():
        originals = [tokenize(full.test.text.iloc[i]) for i in sampled.window_index]
        assert [Counter(tokenize(t)) for t in texts] == [Counter(o) for o in originals]
    metrics = evaluate_predictor(PipelinePredictor(unigram_pipeline(train)), sampled).metrics
    # Test accuracy and the whole-review shuffle stay on every test review.
    assert (
        metrics == evaluate_predictor(PipelinePredictor(unigram_pipeline(train)), sampled).metrics
    )
    whole = evaluate_predictor(PipelinePredictor(unigram_pipeline(train)), full).metrics
    assert metrics["test_accuracy"] == whole["test_accuracy"]
    assert metrics["shuffled_test_accuracy"] == whole["shuffled_test_accuracy"]


def test_the_probes_read_back_give_every_number_the_in_memory_sets_give(tiny_evaluation, tmp_path):
    train, data = tiny_evaluation
    write_probes(data, tmp_path)
    loaded = load_probes(tmp_path)
    predictor = PipelinePredictor(unigram_pipeline(train))
    scores = score_texts(predictor, loaded)
    assert set(scores) >= {"val", "test", "shuffled", "contrast", "window_2", "suite_negation"}
    assert all(s.dtype == np.float32 for s in scores.values())
    assert evaluate_scores(scores, loaded).metrics == evaluate_predictor(predictor, data).metrics


def test_order_alone_sets_the_best_recurrent_model_against_the_neural_bag_of_its_init():
    from imdb_sentiment.evaluation.compare import words_equal

    labels = np.array([1, 0, 1, 0, 1, 0, 1, 0])
    right, wrong = labels.astype(np.float32), 1 - labels.astype(np.float32)
    table = pd.DataFrame(
        {
            "family": ["recurrent", "neural_bag", "neural_bag", "bag_of_words"],
            "embedding_init": ["word_vectors", "random", "word_vectors", None],
            "val_accuracy": [0.9, 0.95, 0.8, 0.99],  # the random-init dan is better: not chosen
        },
        index=["gru", "dan", "dan_vectors", "tfidf"],
    )
    scores = {
        "gru": {"test": right},
        "dan": {"test": right},
        "dan_vectors": {"test": np.where(np.arange(8) < 2, wrong, right)},  # two texts wrong
        "tfidf": {"test": wrong},
    }
    part = words_equal(table, scores, "gru", labels, seed=0)
    assert (part["neural_bag"], part["embedding_init"]) == ("dan_vectors", "word_vectors")
    assert part["difference"] == pytest.approx(0.25)
    assert part["ci_low"] <= part["difference"] <= part["ci_high"]
    # No neural bag starts where the recurrent model does: no part (c), not a mismatched one.
    assert words_equal(table.drop("dan_vectors"), scores, "gru", labels, seed=0) is None
