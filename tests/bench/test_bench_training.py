"""The benchmark's own trainings, on the tiny pipeline's clone: each seed's best recurrent model
against the same seed's neural bag (the answer's part (c) per seed), and each model against
its twin with the other embedding init. The seed the pipeline trained with must give back the
pipeline's own numbers."""

from __future__ import annotations

import pytest

from bench.corpora import WORDS_EQUAL
from bench.pipeline import (
    BENCH_CACHE,
    accuracy_at_defaults,
    evaluation_of,
    seed_spread,
    what_vectors_buy,
)

pytestmark = pytest.mark.slow


def test_order_alone_per_seed_starts_from_the_pipelines_own_answer(pipeline, monkeypatch):
    repo, env, _ = pipeline
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
    answer = evaluation_of(repo, "order")
    words = answer["words_equal"]
    best, twin = words["model"], words["neural_bag"]
    spread = seed_spread(repo, [43], accuracy_at_defaults(repo), only=[best, twin])
    assert spread[best]["seeds"] == spread[twin]["seeds"] == [42, 43]
    # Seed 42 is the pipeline's run, read back from its saved scores: the same gain on top.
    assert spread[best]["runs"][0]["on_top"] == answer["on_top"][best]
    per_seed = spread[WORDS_EQUAL]
    assert (per_seed["model"], per_seed["neural_bag"]) == (best, twin)
    assert [run["seed"] for run in per_seed["runs"]] == [42, 43]
    first = per_seed["runs"][0]
    assert {k: first[k] for k in ("difference", "ci_low", "ci_high")} == {
        k: words[k] for k in ("difference", "ci_low", "ci_high")
    }
    assert "difference_mean" in per_seed and per_seed["difference_std"] >= 0
    # Each training is kept in the clone's bench cache: a second benchmark trains none again.
    kept = {path: path.stat().st_mtime_ns for path in (repo / BENCH_CACHE).rglob("*.npz")}
    assert len(kept) >= 2
    assert seed_spread(repo, [43], accuracy_at_defaults(repo), only=[best, twin]) == spread
    assert {path: path.stat().st_mtime_ns for path in kept} == kept  # read, not written again


def test_what_the_vectors_buy_trains_the_twin_with_the_other_init(pipeline, monkeypatch):
    repo, env, _ = pipeline
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
    bought = what_vectors_buy(repo, ["dan"])["dan"]
    assert bought["default_init"] == "random"  # the tiny repo's dan starts random
    assert bought["other"]["changed"]["embedding_init"] == "word_vectors"
    difference = bought["vectors_minus_random"]
    assert difference["ci_low"] <= difference["difference"] <= difference["ci_high"]
    assert 0 <= bought["other"]["test_accuracy"] <= 1
