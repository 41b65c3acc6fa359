"""bench/RESULTS.md is a rendering of bench/results.json, soak.json and pretrain.json: every
number, setting and target it prints comes from them."""

from __future__ import annotations

import copy
import re

import pytest

from bench import PRETRAIN_JSON, RESULTS_JSON, RESULTS_MD, SOAK_JSON
from bench.pipeline import evaluation_of
from bench.pretrain import summarize
from bench.render import render, soak_section
from bench.render_training import pretraining_section
from imdb_sentiment.files import read_json
from imdb_sentiment.report import markdown as md


@pytest.fixture
def results() -> dict:
    return read_json(RESULTS_JSON)


def tables(text: str) -> dict[str, list[dict[str, str]]]:
    """Every Markdown table in ``text`` by its first header cell: rows of {header: cell}."""
    found: dict[str, list[dict[str, str]]] = {}
    block: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append([cell.strip() for cell in line.strip("|").split(" | ")])
        elif block:
            header, _, *body = block
            found.setdefault(header[0], []).extend(
                dict(zip(header, row, strict=True)) for row in body
            )
            block = []
    return found


def row_of(rows: list[dict[str, str]], name: str) -> dict[str, str]:
    return next(row for row in rows if next(iter(row.values())) == name)


def test_the_committed_results_md_is_the_rendering_of_the_committed_json(results):
    rendered = render(results, read_json(SOAK_JSON), read_json(PRETRAIN_JSON))
    assert RESULTS_MD.read_text() == rendered


def test_an_accuracy_target_and_its_mark_come_from_the_results(results):
    changed = copy.deepcopy(results)
    changed["targets"]["test_accuracy_mean"] = {"gru": 0.8}
    rows = tables(render(changed))["model"]
    gru, lstm = row_of(rows, "gru"), row_of(rows, "lstm")
    assert gru["target (seeds' mean)"] == "80.0%"
    assert gru["seeds: mean ± std"].endswith("(3 seeds) ✓")
    assert lstm["target (seeds' mean)"] == "" and lstm["seeds: mean ± std"].endswith("(3 seeds)")


def test_the_speedup_target_comes_from_the_results(results):
    changed = copy.deepcopy(results)
    changed["targets"]["speedup"] = 3.0
    gru = row_of(tables(render(changed))["arch"], "gru")
    assert gru["target"] == "3.00×"
    assert gru["speedup"] == md.ratio(results["throughput"]["gru"]["speedup"])


def test_the_cold_run_checks_exactly_the_targets_the_results_set(results):
    changed = copy.deepcopy(results)
    changed["targets"] = {"cold_total_seconds": 10**6}
    checks = re.findall(r"target ≤ (\d+) (s|MB) (✓|✗)", render(changed))
    assert checks == [("1000000", "s", "✓")]


def test_the_throughput_settings_and_device_come_from_the_results(results):
    changed = copy.deepcopy(results)
    changed["throughput_settings"] |= {"epochs": 5, "tutorial": {"units": 99}}
    changed["cold_pipeline"]["cached_repro_runs"] = 7
    changed["device"] = "gpu"
    text = render(changed)
    assert re.search(r"\b5 epochs per run\b", text) and "(units 99)" in text
    assert "(median of 7)" in text
    assert "device gpu" in text and "no GPU" not in text


def test_parts_not_measured_are_left_out(results):
    for key in ("throughput", "serving", "cold_pipeline", "intervals", "test_reviews"):
        results.pop(key)
    text = render(results)
    headings = re.findall(r"^## (.*)$", text, flags=re.MULTILINE)
    assert headings == ["Accuracy at the defaults (test set)"]
    assert "model" in tables(text) and "arch" not in tables(text)


def test_the_soak_has_a_row_per_server_and_per_request_kind():
    soak = read_json(SOAK_JSON)
    found = tables(soak_section(soak))
    assert len(found["model"]) == len(soak["runs"])
    assert [row["kind"] for row in found["kind"]] == list(soak["runs"][0]["by_kind"])
    first = found["model"][0]
    assert first["workers"] == str(soak["runs"][0]["workers"])
    assert first["5xx or no answer"] == str(soak["runs"][0]["server_errors"])
    assert soak_section(None) == ""


def test_the_evaluation_detail_is_read_where_the_evaluate_stage_writes_it(tmp_path):
    (tmp_path / "reports" / "imdb" / "evaluation").mkdir(parents=True)
    (tmp_path / "reports" / "imdb" / "evaluation" / "gru.json").write_text('{"test_accuracy": 0.2}')
    assert evaluation_of(tmp_path, "gru") == {"test_accuracy": 0.2}


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
    return study | {"summary": summarize(classifiers)}


def test_the_pretraining_variants_are_rendered_from_the_study_json():
    text = pretraining_section(study_of([0.91, 0.912, 0.908], [0.88, 0.881, 0.879]))
    variants = tables(text)["variant"]
    assert [row["variant"] for row in variants] == ["pretrained", "random"]
    pretrained = variants[0]
    assert pretrained["seeds"] == "3"
    assert pretrained["val accuracy (mean ± std)"] == "91.00 ± 0.20"
    assert pretrained["test accuracy (mean ± std)"] == "90.00 ± 0.20"
    assert pretrained["val per seed"] == "42: 91.00%, 43: 91.20%, 44: 90.80%"
    assert [row["phase"] for row in tables(text)["phase"]] == ["lm", "lm_target"]
    assert "2.0 process-hours" in text  # two LM epochs of 30 minutes, six classifiers of 10
    assert "`abcdef1234`" in text and "16,790,331 tokens" in text


def test_the_pretraining_gain_is_weighed_against_twice_the_seed_spread():
    paying = summarize(study_of([0.91, 0.912, 0.908], [0.88, 0.881, 0.879])["classifiers"])
    assert paying["val_gain"] == pytest.approx(0.03) and paying["bar"] == pytest.approx(0.004)
    assert paying["pays"] is True
    level = summarize(study_of([0.881, 0.885, 0.877], [0.88, 0.881, 0.879])["classifiers"])
    assert level["pays"] is False
    assert "+3.00 points, against a bar of 0.40" in pretraining_section(
        study_of([0.91, 0.912, 0.908], [0.88, 0.881, 0.879])
    )
    assert pretraining_section(None) == ""
