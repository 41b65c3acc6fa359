"""bench/RESULTS.md is a rendering of bench/results.json, soak.json and pretrain.json: every
number, setting and target it prints comes from them."""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import pytest

from bench import PRETRAIN_JSON, RESULTS_JSON, RESULTS_MD, ROOT, SOAK_JSON, phrases
from bench import run as bench_run
from bench.corpora import SENTENCES, per_corpus, spread_of
from bench.pipeline import evaluation_of
from bench.pretrain import summarize
from bench.render import render, soak_section
from bench.render_training import pretraining_section
from imdb_sentiment.files import read_json
from imdb_sentiment.params import Source
from imdb_sentiment.report import markdown as md


@pytest.fixture
def results() -> dict:
    """A results.json of the older, IMDB-only shape (the one before corpora), as committed
    then: the tests build every newer part from it, and its migration is tested on it."""
    return read_json(Path(__file__).with_name("results_imdb_only.json"))


def sst2_part(imdb: dict) -> dict:
    """An SST-2 part of results.json in the shape of IMDB's ``imdb``, with numbers of its own:
    a small test set, a head to head whose interval holds 0, gru's spread over three seeds."""
    part = copy.deepcopy(imdb)
    part["test_texts"] = 1821
    part["champion"] = "gru_nb"
    for name, accuracy in {"gru": 0.846238, "tfidf_bigram": 0.838001, "gru_nb": 0.851181}.items():
        part["models"][name]["test_accuracy"] = accuracy
    answer = part["answer"]
    answer["best_bag"] = "tfidf_bigram"
    answer["head_to_head"] = {
        "model": "gru",
        "bag": "tfidf_bigram",
        "difference": 0.008237,
        "ci_low": -0.009336,
        "ci_high": 0.025275,
    }
    answer["on_top"] = {
        "gru": {
            "weights": {"tfidf_bigram": 0.4, "gru": 0.6},
            "val_accuracy": 0.852064,
            "test_accuracy": 0.865459,
            "difference": 0.027457,
            "ci_low": 0.014278,
            "ci_high": 0.041186,
        }
    }

    def seed_run(seed: int, accuracy: float, gain: float) -> dict:
        on_top = {"weights": {"tfidf_bigram": 0.4, "gru": 0.6}, "difference": gain}
        return {"seed": seed, "test_accuracy": accuracy, "on_top": on_top | interval(gain)}

    def interval(gain: float) -> dict:
        return {"ci_low": gain - 0.013, "ci_high": gain + 0.013}

    runs = [seed_run(42, 0.846238, 0.027457), seed_run(43, 0.84, 0.01), seed_run(44, 0.85, 0.02)]
    part["seed_spread"] = {
        "gru": {
            "seeds": [42, 43, 44],
            "runs": runs,
            "bag": "tfidf_bigram",
            **spread_of(runs),
        }
    }
    for name in ("simple_rnn", "lstm", "bilstm"):
        for key in ("seeds", "test_accuracy_mean", "test_accuracy_std"):
            part["models"][name].pop(key)
    gru = part["seed_spread"]["gru"]
    part["models"]["gru"] |= {k: gru[k] for k in ("test_accuracy_mean", "test_accuracy_std")}
    return part


def sentences_comparison() -> dict:
    """bench/phrases.py's comparison in the shape it writes: every model's numbers on phrases
    and on sentences alone, gru worse on sentences (its interval clear of 0), tfidf level;
    on sentences the best bag is another and gru loses head to head, clear of 0."""

    def side(train_on: str, texts: int, test: dict, val: dict, answer: dict) -> dict:
        models = {n: {"test_accuracy": test[n], "val_accuracy": val[n]} for n in test}
        return {"train_on": train_on, "train_texts": texts, "models": models, "answer": answer}

    def gain(bag: str, model: str, difference: float, low: float, high: float) -> dict:
        weights = {bag: 0.5, model: 0.5}
        return {"weights": weights, "difference": difference, "ci_low": low, "ci_high": high}

    phrases = side(
        "phrases",
        77614,
        {"gru": 0.84624, "tfidf": 0.82043, "tfidf_bigram": 0.838, "gru_nb": 0.85118},
        {"gru": 0.837156, "tfidf": 0.813073, "tfidf_bigram": 0.84289, "gru_nb": 0.852064},
        {
            "best_recurrent": "gru",
            "best_bag": "tfidf_bigram",
            "head_to_head": {
                "model": "gru",
                "bag": "tfidf_bigram",
                "difference": 0.008237,
                "ci_low": -0.009336,
                "ci_high": 0.025275,
            },
            "on_top": {"gru": gain("tfidf_bigram", "gru", 0.027457, 0.014278, 0.041186)},
        },
    )
    sentences = side(
        "sentences",
        6920,
        {"gru": 0.80011, "tfidf": 0.82043, "tfidf_bigram": 0.8138, "gru_nb": 0.8221},
        {"gru": 0.7901, "tfidf": 0.80275, "tfidf_bigram": 0.80849, "gru_nb": 0.8211},
        {
            "best_recurrent": "gru",
            "best_bag": "tfidf",
            "head_to_head": {
                "model": "gru",
                "bag": "tfidf",
                "difference": -0.02032,
                "ci_low": -0.03899,
                "ci_high": -0.00165,
            },
            "on_top": {"gru": gain("tfidf", "gru", 0.006041, -0.004942, 0.017024)},
        },
    )
    paired = {
        "gru": {"difference": 0.04613, "ci_low": 0.02801, "ci_high": 0.06425},
        "tfidf": {"difference": 0.0, "ci_low": -0.00714, "ci_high": 0.00714},
        "tfidf_bigram": {"difference": 0.0242, "ci_low": 0.01098, "ci_high": 0.03734},
        "gru_nb": {"difference": 0.02908, "ci_low": 0.01483, "ci_high": 0.04338},
    }
    return {
        "commit": "e" * 40,
        "setting": "corpora.sst2.read.train_on",
        "seconds": 1234.5,
        "phrases": phrases,
        "sentences": sentences,
        "phrases_minus_sentences": paired,
    }


@pytest.fixture
def two_corpora(results) -> dict:
    """The committed results in the per-corpus shape, IMDB's as committed, plus SST-2's."""
    both = per_corpus(results)
    both["corpora"]["sst2"] = sst2_part(both["corpora"]["imdb"])
    both["targets"]["corpora"]["sst2"] = {
        "best_bag_test_accuracy": 0.830,
        "best_recurrent_test_accuracy": 0.845,
        "champion_test_accuracy": 0.855,
    }
    return both


def sections(text: str) -> dict[str, str]:
    """Each `## ` section of ``text`` by its heading."""
    parts = re.split(r"^## (.*)$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


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


def test_the_committed_results_md_is_the_rendering_of_the_committed_json():
    rendered = render(read_json(RESULTS_JSON), read_json(SOAK_JSON), read_json(PRETRAIN_JSON))
    assert RESULTS_MD.read_text() == rendered


def test_an_accuracy_target_and_its_mark_come_from_the_results(results):
    changed = per_corpus(results)
    changed["targets"]["corpora"]["imdb"]["test_accuracy_mean"] = {"gru": 0.8}
    rows = tables(render(changed))["model"]
    gru, lstm = row_of(rows, "gru"), row_of(rows, "lstm")
    assert gru["target (seeds' mean)"] == "80.0%"
    assert gru["seeds: mean ± std"].endswith("(3 seeds) ✓")
    assert lstm["target (seeds' mean)"] == "" and lstm["seeds: mean ± std"].endswith("(3 seeds)")


def test_each_corpus_has_its_own_accuracy_section(two_corpora):
    found = sections(render(two_corpora))
    imdb = found["Accuracy at the defaults: imdb (test set, 25,000 texts)"]
    sst2 = found["Accuracy at the defaults: sst2 (test set, 1,821 texts)"]
    assert row_of(tables(imdb)["model"], "gru")["test acc [95% CI]"].startswith("89.17% ")
    sst2_gru = row_of(tables(sst2)["model"], "gru")
    assert sst2_gru["test acc [95% CI]"].startswith("84.62% ")
    assert sst2_gru["seeds: mean ± std"] == "84.54 ± 0.51 (3 seeds)"
    # Each corpus's targets, marked against its own numbers.
    assert (
        "Targets: the best bag nb_trigram 91.59% (target ≥ 91.5% ✓); the champion gru_nb "
        "91.88% (target ≥ 92.6% ✗)." in imdb
    )
    assert (
        "Targets: the best bag tfidf_bigram 83.80% (target ≥ 83.0% ✓); the best recurrent "
        "model gru 84.62% (target ≥ 84.5% ✓); the champion gru_nb 85.12% (target ≥ 85.5% ✗)."
        in sst2
    )
    assert "tfidf_bigram" not in imdb.split("Targets:")[1]


def test_a_head_to_head_whose_interval_holds_0_is_not_called_a_win(two_corpora):
    sst2 = sections(render(two_corpora))["Accuracy at the defaults: sst2 (test set, 1,821 texts)"]
    assert "gru minus tfidf_bigram" in sst2
    assert "+0.82 [-0.93, +2.53] points (no)." in sst2
    assert row_of(tables(sst2)["recurrent model"], "gru")["excludes 0"] == md.HIGHER


def test_each_corpus_shows_its_seed_spread_of_accuracy_and_of_the_gain(two_corpora):
    found = sections(render(two_corpora))
    imdb = found["Accuracy at the defaults: imdb (test set, 25,000 texts)"]
    sst2 = found["Accuracy at the defaults: sst2 (test set, 1,821 texts)"]
    # IMDB's gru: the committed runs' gains 0.292, 0.296 and 0.156 points.
    assert (
        "Over its 3 seeds (mean ± std): test accuracy 88.92 ± 0.20, gain on top of nb_trigram "
        "+0.25 ± 0.08 points. The gain's interval is clear of 0 in 2 of 3 seeds." in imdb
    )
    assert (
        "Over its 3 seeds (mean ± std): test accuracy 84.54 ± 0.51, gain on top of "
        "tfidf_bigram +1.92 ± 0.88 points. The gain's interval is clear of 0 in 2 of 3 seeds."
        in sst2
    )
    seeds = tables(sst2)["seed"]
    assert [row["seed"] for row in seeds[-3:]] == ["42", "43", "44"]
    assert seeds[-2] == {
        "seed": "43",
        "test acc": "84.00%",
        "weight": "0.60",
        "gain, points": "+1.00 [-0.30, +2.30]",
        "excludes 0": "no",
    }
    assert "carried over" in imdb and "carried over" not in sst2


SST2_SECTION = "Accuracy at the defaults: sst2 (test set, 1,821 texts)"


def test_sst2_trained_on_sentences_is_set_beside_phrases_model_by_model(two_corpora):
    two_corpora["corpora"]["sst2"][SENTENCES] = sentences_comparison()
    sst2 = sections(render(two_corpora))[SST2_SECTION]
    assert (
        "Trained on phrases (77,614 training texts) and on sentences (6,920): the pipeline run "
        "again with `corpora.sst2.read.train_on: sentences`, as a temporary DVC experiment "
        "beside the clone's run at `eeeeeeeeee` (1,234 s, 20.6 min;" in sst2
    )
    # It and the section's first table both start with `model`: its rows have its columns.
    rows = [row for row in tables(sst2)["model"] if "test acc: sentences" in row]
    assert row_of(rows, "gru") == {
        "model": "gru",
        "test acc: phrases": "84.62%",
        "test acc: sentences": "80.01%",
        "phrases minus sentences, points": "+4.61 [+2.80, +6.42]",
        "excludes 0": md.HIGHER,
        "val acc: phrases": "83.72%",
        "val acc: sentences": "79.01%",
    }
    # A difference whose interval holds 0 is not called one, whichever way it points.
    assert row_of(rows, "tfidf")["excludes 0"] == md.NOT_SHOWN
    assert [row["model"] for row in rows] == ["gru", "tfidf", "tfidf_bigram", "gru_nb"]


def test_sst2_answer_is_given_both_ways_with_its_intervals(two_corpora):
    two_corpora["corpora"]["sst2"][SENTENCES] = sentences_comparison()
    sst2 = sections(render(two_corpora))[SST2_SECTION]
    # Each side's head to head against its own best bag, a win only where its interval shows it.
    assert (
        "on phrases, gru minus tfidf_bigram +0.82 [-0.93, +2.53] points (excludes 0: no); on "
        "sentences, gru minus tfidf -2.03 [-3.90, -0.17] points (excludes 0: yes: lower)."
    ) in sst2
    gains = tables(sst2)["recurrent model"]
    gain = row_of([row for row in gains if "phrases: excludes 0" in row], "gru")
    assert gain["phrases: gain over tfidf_bigram, points"] == "+2.75 [+1.43, +4.12]"
    assert gain["phrases: excludes 0"] == md.HIGHER
    assert gain["sentences: gain over tfidf, points"] == "+0.60 [-0.49, +1.70]"
    assert gain["sentences: excludes 0"] == md.NOT_SHOWN


def test_results_without_the_sentences_run_render_without_it(results, two_corpora):
    # The committed, IMDB-only file of the older shape, and SST-2 measured without --sentences.
    for text in (render(results), render(two_corpora)):
        assert "test acc: sentences" not in text and "Trained on phrases" not in text
    assert SENTENCES not in per_corpus(results)["corpora"]["imdb"]


def test_the_sentences_run_is_measured_with_the_flag_else_carried_over(
    two_corpora, results, monkeypatch
):
    measured = sentences_comparison() | {"commit": "f" * 40}
    monkeypatch.setattr(bench_run, "train_on_sentences", lambda clone: measured)
    monkeypatch.setattr(bench_run, "save", lambda results: None)
    previous = copy.deepcopy(two_corpora)
    previous["corpora"]["sst2"][SENTENCES] = sentences_comparison()

    def sst2_after(previous: dict, *argv: str) -> dict:
        out = {"corpora": {"sst2": {}, "imdb": {}}}
        args = bench_run.parser().parse_args(["--skip-cold", *argv])
        bench_run.sentences_alone(out, ROOT, args, previous)
        return out["corpora"]["sst2"]

    assert sst2_after(previous, "--sentences")[SENTENCES]["commit"] == "f" * 40
    carried = sst2_after(previous)[SENTENCES]
    assert carried == previous["corpora"]["sst2"][SENTENCES] and carried["commit"] == "e" * 40
    assert SENTENCES not in sst2_after(results)  # the older file has no SST-2 at all
    assert SENTENCES not in sst2_after({})
    with pytest.raises(SystemExit, match="--sentences: the clone has no sst2"):
        out = {"corpora": {"imdb": {}}}
        bench_run.sentences_alone(out, ROOT, bench_run.parser().parse_args(["--sentences"]), {})


def test_the_experiment_and_the_workspace_are_read_from_dvc_exp_show():
    def data(rev: str, test: float) -> dict:
        return {"rev": rev, "metrics": {"metrics/sst2/test.json": {"data": {"gru": test}}}}

    shown = [
        {"rev": "workspace", "name": None, "data": data("workspace", 0.8), "experiments": None},
        {
            "rev": "a" * 40,
            "name": "main",
            "data": data("a" * 40, 0.8),
            "experiments": [
                {"name": "other", "revs": [{"rev": "c" * 40, "name": "other", "data": {}}]},
                {
                    "name": phrases.EXPERIMENT,
                    "revs": [
                        {"rev": "b" * 40, "name": phrases.EXPERIMENT, "data": data("b" * 40, 0.7)}
                    ],
                },
            ],
        },
    ]
    workspace, experiment = phrases.shown_rows(json.dumps(shown))
    assert workspace == data("workspace", 0.8) and experiment == data("b" * 40, 0.7)


def test_the_experiment_reads_relative_local_sources_by_absolute_path(tmp_path):
    digest = "0" * 64
    web = Source(url="https://example.org/trees.zip", sha256=digest)
    near = Source(url="../shared/trees.zip", sha256=digest)
    assert (
        phrases.pinned_sources(tmp_path, [web, Source(url="/abs/trees.zip", sha256=digest)]) == []
    )
    flag, value = phrases.pinned_sources(tmp_path / "clone", [web, near])
    assert flag == "-S"
    assert value == (
        f"corpora.sst2.sources=[{{url:'https://example.org/trees.zip',sha256:'{digest}'}},"
        f"{{url:'{tmp_path.resolve() / 'shared' / 'trees.zip'}',sha256:'{digest}'}}]"
    )


def test_the_older_imdb_only_results_read_as_corpus_imdb(results):
    migrated = per_corpus(results)
    assert list(migrated["corpora"]) == ["imdb"]
    imdb = migrated["corpora"]["imdb"]
    assert imdb["test_texts"] == results["test_reviews"] == 25000
    assert imdb["models"] == results["models"] and imdb["answer"] == results["answer"]
    assert imdb["champion"] == results["champion"]
    assert not {"models", "answer", "champion", "test_reviews", "seed_spread"} & set(migrated)
    assert migrated["targets"]["corpora"]["imdb"]["best_bag_test_accuracy"] == 0.915
    assert migrated["targets"]["speedup"] == results["targets"]["speedup"]
    gru = imdb["seed_spread"]["gru"]
    assert gru["on_top_mean"] == pytest.approx(0.00248) and gru["commit"].startswith("6676356")
    assert "on_top_mean" not in imdb["seed_spread"]["lstm"]  # its runs have no gain
    assert per_corpus(migrated) == migrated
    assert render(results) == render(migrated)


def test_spreads_not_measured_again_are_carried_over_per_corpus(
    two_corpora, results, tmp_path, monkeypatch
):
    shutil.copy(ROOT / "params.yaml", tmp_path)  # the project's corpora: imdb, then sst2
    measured = {c: copy.deepcopy(two_corpora["corpora"][c]) for c in ("imdb", "sst2")}
    for part in measured.values():
        part.pop("seed_spread")
    trained = []

    def seed_spread(clone, seeds, models, only, corpus):
        trained.append((corpus, seeds, only))
        runs = [{"seed": 42, "test_accuracy": 0.8}, {"seed": seeds[0], "test_accuracy": 0.9}]
        return {name: {"seeds": [42, *seeds], "runs": runs} | spread_of(runs) for name in only}

    monkeypatch.setattr(bench_run, "measured_accuracy", lambda clone, c: copy.deepcopy(measured[c]))
    monkeypatch.setattr(bench_run, "seed_spread", seed_spread)
    monkeypatch.setattr(bench_run, "save", lambda results: None)
    monkeypatch.setattr(bench_run, "git_commit", lambda path: "c" * 40)

    def accuracy(*argv: str) -> dict:
        trained.clear()
        args = bench_run.parser().parse_args(["--skip-cold", *argv])
        out: dict = {"commit": "d" * 40}
        bench_run.accuracy(out, tmp_path, args, results)  # the committed, IMDB-only results
        return out["corpora"]

    # By default each corpus's best recurrent model (by validation) gets the extra seeds.
    accuracy()
    assert trained == [("imdb", [43, 44], ["gru"]), ("sst2", [43, 44], ["gru"])]
    corpora = accuracy("--corpora", "sst2", "--seed-models", "lstm")
    assert trained == [("sst2", [43, 44], ["lstm"])]
    assert list(corpora["sst2"]["seed_spread"]) == ["lstm"]
    assert corpora["sst2"]["models"]["lstm"]["test_accuracy_mean"] == pytest.approx(0.85)
    # IMDB's spreads, not measured, come from the older file with the commits that measured them.
    carried = corpora["imdb"]["seed_spread"]
    assert carried == per_corpus(results)["corpora"]["imdb"]["seed_spread"]
    assert carried["gru"]["commit"] == results["seed_spread"]["gru"]["commit"]
    assert corpora["imdb"]["models"]["gru"]["test_accuracy_mean"] == 0.889213
    assert accuracy("--seeds")["sst2"].get("seed_spread") is None and trained == []
    with pytest.raises(SystemExit, match="--corpora sst5"):
        accuracy("--corpora", "sst5")


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
    assert headings == ["Accuracy at the defaults: imdb (test set)"]
    assert "model" in tables(text) and "arch" not in tables(text)
    assert "Training throughput was not measured in this run" in text


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
