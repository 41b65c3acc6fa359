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
    soak_file = REPO / "bench" / "soak.json"
    soak = json.loads(soak_file.read_text()) if soak_file.exists() else None
    assert (REPO / "bench" / "RESULTS.md").read_text() == bench.render(results, soak)


def test_targets_settings_and_device_come_from_the_results(results):
    changed = copy.deepcopy(results)
    changed["targets"] = {"test_accuracy_mean": {"gru": 0.8}, "speedup": 3.0}
    changed["throughput_settings"] |= {"epochs": 5, "tutorial": {"units": 99}}
    changed["cold_pipeline"]["cached_repro_runs"] = 7
    changed["device"] = "gpu"
    text = bench.render(changed)
    gru = next(line for line in text.splitlines() if line.startswith("| gru | 89.10%"))
    assert "(3 seeds) ✓ | 80.0% |" in gru
    assert "| lstm | 88.20%" in text and "✗" not in text  # no target for lstm now
    assert "5 epochs per run" in text and "(units 99)" in text
    assert "| 1.00× | 3.00× |" in text  # gru's speedup against the new target
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
