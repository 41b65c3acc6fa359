"""The accuracy part of bench/results.json, per corpus: ``results["corpora"][C]`` holds corpus
C's ``models``, ``answer``, ``champion``, ``test_texts`` and ``seed_spread`` (and SST-2's
``train_on_sentences``, bench/phrases.py's), and ``results["targets"]["corpora"][C]`` its
accuracy targets. Files written before the second corpus held IMDB's at the top level;
``per_corpus`` reads them as corpus ``imdb``, so that their numbers still render and their seed
spreads can be carried over."""

from __future__ import annotations

import copy
import statistics

OLD_CORPUS = "imdb"  # the one corpus a file of the older shape measured
# Each key under a corpus, by the top-level key the older shape held it in.
OLD_KEYS = {
    "models": "models",
    "answer": "answer",
    "champion": "champion",
    "test_texts": "test_reviews",
    "seed_spread": "seed_spread",
}
OLD_TARGETS = ("test_accuracy_mean", "best_bag_test_accuracy", "champion_test_accuracy")
# Under SST-2's part: its run on every phrase against one on its sentences alone.
SENTENCES = "train_on_sentences"
# Under a corpus's part: the answer's part (c) per seed (the best recurrent model against the
# neural bag with its embedding init, each seed against the same seed), and what the word
# vectors buy each family (each model against its twin with the other embedding init).
WORDS_EQUAL, VECTORS = "words_equal_seeds", "vectors"


def per_corpus(results: dict) -> dict:
    """A copy of ``results`` in the per-corpus shape, whichever shape it was written in; each
    seed spread whose runs carry their gain on top of the bag gets that gain's mean and std
    (older files summarized the accuracy alone)."""
    results = copy.deepcopy(results)
    if "corpora" not in results:
        part = {new: results.pop(old) for new, old in OLD_KEYS.items() if old in results}
        results["corpora"] = {OLD_CORPUS: part} if part else {}
        targets = results.get("targets", {})
        accuracy = {key: targets.pop(key) for key in OLD_TARGETS if key in targets}
        if accuracy:
            targets["corpora"] = {OLD_CORPUS: accuracy}
    for part in results["corpora"].values():
        for spread in part.get("seed_spread", {}).values():
            if "on_top_mean" not in spread:
                spread |= gain_spread(spread["runs"])
    return results


def spread_of(runs: list[dict]) -> dict:
    """Mean and standard deviation over seeds of the runs' test accuracy, and of their gain on
    top of the bag (in accuracy, not points) where every run has one."""
    return mean_and_std("test_accuracy", [run["test_accuracy"] for run in runs]) | gain_spread(runs)


def gain_spread(runs: list[dict]) -> dict:
    """Mean and standard deviation over seeds of the runs' gain on top of the bag, or nothing
    where a run lacks one (older spreads of models other than the best recurrent)."""
    if not runs or not all("on_top" in run for run in runs):
        return {}
    return mean_and_std("on_top", [run["on_top"]["difference"] for run in runs])


def mean_and_std(key: str, values: list[float]) -> dict:
    # The sample std (n - 1): the seeds are a sample of the seeds one could train with.
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {f"{key}_mean": round(statistics.mean(values), 6), f"{key}_std": round(std, 6)}
