"""bench/RESULTS.md is a rendering of bench/results.json: what the renderer prints comes from it."""

from __future__ import annotations

import copy
import json
import sys

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import run as bench  # noqa: E402


@pytest.fixture
def results() -> dict:
    return json.loads((REPO / "bench" / "results.json").read_text())


def test_the_committed_results_md_is_the_rendering_of_results_json(results):
    soak_file, study_file = bench.SOAK_JSON, bench.PRETRAIN_JSON
    soak = json.loads(soak_file.read_text()) if soak_file.exists() else None
    study = json.loads(study_file.read_text()) if study_file.exists() else None
    assert (REPO / "bench" / "RESULTS.md").read_text() == bench.render(results, soak, study)


def test_targets_settings_and_device_come_from_the_results(results):
    changed = copy.deepcopy(results)
    changed["targets"] = {
        "test_accuracy_mean": {"gru": 0.8},
        "speedup": 3.0,
        "cold_total_seconds": 10**6,
    }
    changed["throughput_settings"] |= {"epochs": 5, "tutorial": {"units": 99}}
    changed["cold_pipeline"]["cached_repro_runs"] = 7
    changed["device"] = "gpu"
    text = bench.render(changed)
    gru = next(line for line in text.splitlines() if line.startswith("| gru | 89.10%"))
    assert "(3 seeds) ✓ | 80.0% |" in gru
    assert "| lstm | 88.20%" in text and "✗" not in text  # no target for lstm now
    assert "5 epochs per run" in text and "(units 99)" in text
    gru_speedup = bench.md.ratio(results["throughput"]["gru"]["speedup"])
    assert f"| {gru_speedup} | 3.00× |" in text  # gru's speedup against the new target
    total = results["cold_pipeline"]["total_seconds"]
    assert f"Targets: total {total} s (target ≤ 1000000 s ✓)." in text  # no other cold target
    assert "(median of 7)" in text
    assert "no GPU" not in text and "device gpu" in text


def test_parts_not_measured_are_left_out(results):
    for key in ("throughput", "serving", "cold_pipeline", "intervals", "test_reviews"):
        results.pop(key)
    text = bench.render(results)
    assert "Training throughput was not measured in this run" in text
    assert "## Serving" not in text and "## Cold" not in text
    assert "(test set)" in text and "[CI]" in text


def test_the_evaluation_detail_is_read_where_the_evaluate_stage_writes_it(tmp_path):
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "gru.json").write_text('{"test_accuracy": 0.1}')
    assert bench.evaluation_of(tmp_path, "gru") == {"test_accuracy": 0.1}
    (tmp_path / "reports" / "evaluation").mkdir(parents=True)
    (tmp_path / "reports" / "evaluation" / "gru.json").write_text('{"test_accuracy": 0.2}')
    assert bench.evaluation_of(tmp_path, "gru") == {"test_accuracy": 0.2}


def study_of(pretrained: list[float], random: list[float]) -> dict:
    def run(val: float) -> dict:
        return {
            "val_accuracy": val,
            "test_accuracy": val - 0.01,
            "best_epoch": 2,
            "epochs_run": 3,
            "seconds": 600.0,
        }

    classifiers = {f"pretrained/{42 + i}": run(v) for i, v in enumerate(pretrained)}
    classifiers |= {f"random/{42 + i}": run(v) for i, v in enumerate(random)}
    epoch = {
        "epoch": 1,
        "sampled_loss": 4.5,
        "held_out_loss": 5.1,
        "held_out_perplexity": 164.0,
        "seconds": 1800.0,
    }
    settings = {
        "threads": 1,
        "embedding_dim": 128,
        "units": 256,
        "sampled": 1024,
        "segment": 70,
        "dropout": 0.4,
        "epochs": 3,
        "patience": 1,
        "lr": 0.002,
        "lr_decay": 2.6,
    }
    corpus = {
        "vocab_size": 20000,
        "unlabeled_reviews": 50000,
        "lm_tokens": 16_790_331,
        "target_tokens": 5_244_517,
    }
    study = {
        "commit": "abcdef1234567",
        "settings": settings,
        "corpus": corpus,
        "lm": {"epochs": [epoch]},
        "lm_target": {"epochs": [epoch]},
        "classifiers": classifiers,
    }
    sys.path.insert(0, str(REPO / "bench"))
    from pretrain import summarize

    return study | {"summary": summarize(classifiers)}


def test_the_pretraining_study_is_rendered_from_its_json_with_its_verdict():
    paying = bench.pretraining_section(study_of([0.91, 0.912, 0.908], [0.88, 0.881, 0.879]))
    assert "3 seeds" not in paying and "| pretrained | 3 | 91.00 ± 0.20 | 90.00 ± 0.20 |" in paying
    assert "LSTM 256" in paying and "16,790,331 tokens" in paying and "`abcdef1234`" in paying
    assert "2.0 process-hours" in paying  # two LM epochs of 30 minutes, six classifiers of 10
    assert "+3.00 points, against a bar of 0.40" in paying and "it pays" in paying
    level = bench.pretraining_section(study_of([0.881, 0.885, 0.877], [0.88, 0.881, 0.879]))
    assert "it does not pay" in level
    assert bench.pretraining_section(None) == ""
