"""End to end: the real `dvc repro` on a tiny archive, in a temp repo, with a temp MLflow store."""

from __future__ import annotations

import csv
import json
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml
from conftest import (
    BAGS,
    ENSEMBLES,
    MODELS,
    NEURAL_BAGS,
    NEURAL_MODELS,
    RECURRENT_MODELS,
    REPO,
    copy_repo,
    dvc,
    edit_params,
    git,
    own_copy,
    project_env,
    runs_in,
)

from imdb_sentiment.serving.predictors import load_predictor

pytestmark = pytest.mark.slow

STAGES = [
    "download@imdb",
    "prepare@imdb",
    "probes@imdb",
    "compare@imdb",
    "report@imdb",
    "transfer@imdb",
    "summary",
    "word_vectors",
    *[f"train@imdb-{m}" for m in NEURAL_MODELS],
] + [f"baseline@imdb-{m}" for m in BAGS]
STAGES += [f"score@imdb-{m}" for m in NEURAL_MODELS] + [f"score_baseline@imdb-{m}" for m in BAGS]
STAGES += [f"ensemble@imdb-{m}" for m in ENSEMBLES] + [
    f"score_ensemble@imdb-{m}" for m in ENSEMBLES
]
EVALUATED = [*MODELS, *ENSEMBLES]
PER_MODEL = ["test"]  # with the answer, all `dvc metrics show` holds besides training's
HEADLINE = [*PER_MODEL, "head_to_head", "on_top", "words_equal"]


def evaluation_of(repo: Path, name: str) -> dict:
    """Every number compare wrote for one model (or `differences`, `order`)."""
    return json.loads((repo / "reports" / "imdb" / "evaluation" / f"{name}.json").read_text())


def metric_files(repo: Path, env: dict) -> dict[str, dict]:
    """`dvc metrics show --json`: path -> its numbers."""
    shown = json.loads(dvc(repo, env, "metrics", "show", "--json").stdout)
    return next(iter(shown.values()))["data"]


def model_runs(env: dict) -> pd.DataFrame:
    runs = runs_in(env["MLFLOW_TRACKING_URI"], **{"tags.corpus": "imdb"})
    return runs.set_index("tags.model_name")


def client_of(env: dict) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])


def test_every_stage_runs(pipeline):
    repo, _, first = pipeline
    for stage in STAGES:
        assert f"Running stage '{stage}'" in first.stdout
    assert (repo / "data/raw/imdb/aclImdb_v1.tar.gz").exists()


def test_an_unreadable_source_falls_through_to_the_next(pipeline):
    first = pipeline[2]
    assert "no/such/tiny_aclImdb.tar.gz: cannot read" in first.stdout + first.stderr


def test_tensorflow_starts_quietly_with_one_device_line(pipeline):
    lines = (pipeline[2].stdout + pipeline[2].stderr).splitlines()
    noisy = [line for line in lines if "absl::InitializeLog" in line or "cudart_stub" in line]
    assert noisy == []
    devices = [line for line in lines if "device: CPU" in line or "device: GPU" in line]
    assert devices, "\n".join(lines[-40:])


def test_one_finished_run_per_model_with_params_metrics_and_tags(pipeline):
    repo, env, _ = pipeline
    runs = model_runs(env)
    assert sorted(runs.index) == sorted(EVALUATED)
    assert (runs.status == "FINISHED").all()
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True
    ).stdout.strip()
    assert (runs["tags.git_commit"] == commit).all()
    assert runs.loc["lstm", "tags.model_family"] == "recurrent"
    assert runs.loc["dan", "tags.model_family"] == runs.loc["dan_wv", "tags.model_family"]
    assert runs.loc["dan", "tags.model_family"] == "neural_bag"
    assert runs.loc["tfidf", "tags.model_family"] == "bag_of_words"
    assert runs.loc["gru", "params.prepare.max_len"] == "60"
    assert runs.loc["gru", "params.model.batch_size"] == "32"
    assert runs.loc["gru", "params.model.units"] == "10"  # TINY_MODEL
    assert runs.loc["tfidf", "params.baseline.ngram_max"] == "1"
    assert runs.loc["tfidf_bigram", "params.baseline.ngram_max"] == "2"
    for column in ["metrics.best_val_accuracy", "metrics.test_accuracy", "metrics.train_seconds"]:
        assert runs[column].between(0, 1e6).all(), column
    assert runs.loc["gru_nb", "tags.model_family"] == "ensemble"
    assert runs.loc["gru_nb", "params.ensemble.members"] == "gru,nb_trigram"
    assert runs.loc["nb_trigram", "params.model.arch"] == "nb_logreg"
    for name in EVALUATED:
        record = json.loads((repo / "models" / "imdb" / name / "mlflow.json").read_text())
        assert record["run_id"] == runs.loc[name, "run_id"]
        metrics = evaluation_of(repo, name)
        assert metrics["test_accuracy"] == pytest.approx(runs.loc[name, "metrics.test_accuracy"])


def test_each_models_run_gets_only_its_own_evaluation(pipeline):
    """score@NAME logs to NAME's run alone: one test_accuracy point per run, its own value."""
    repo, env, _ = pipeline
    client = client_of(env)
    for name, run in model_runs(env).iterrows():
        (point,) = client.get_metric_history(run.run_id, "test_accuracy")
        assert point.value == pytest.approx(evaluation_of(repo, name)["test_accuracy"]), name
        artifacts = {a.path for a in client.list_artifacts(run.run_id, "evaluation")}
        assert "evaluation/metrics.json" in artifacts, name
        logged = json.loads(
            (Path(client.download_artifacts(run.run_id, "evaluation/metrics.json"))).read_text()
        )
        assert logged == evaluation_of(repo, name), name


def test_a_runs_duration_is_its_training_not_the_wait_for_evaluate(pipeline):
    """Evaluation adds metrics and files without reopening a run: the run ended when its
    training did, before evaluate logged anything to it."""
    env = pipeline[1]
    client = client_of(env)
    for name, run in model_runs(env).iterrows():
        info = client.get_run(run.run_id).info
        (evaluated,) = client.get_metric_history(run.run_id, "test_accuracy")
        assert info.status == "FINISHED", name
        assert info.end_time <= evaluated.timestamp, name


def test_runs_carry_their_dataset_system_metrics_and_model_linked_test_metrics(pipeline):
    repo, env, _ = pipeline
    client = client_of(env)
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    (prepared,) = [
        o for o in lock["stages"]["prepare@imdb"]["outs"] if o["path"] == "data/prepared/imdb"
    ]
    digest = prepared["md5"].removesuffix(".dir")
    for name, row in model_runs(env).iterrows():
        run = client.get_run(row.run_id)
        inputs = {
            next(t.value for t in d.tags if t.key == "mlflow.data.context"): d.dataset
            for d in run.inputs.dataset_inputs
        }
        assert set(inputs) == {"training", "evaluation"}, name
        assert {d.digest for d in inputs.values()} == {digest}, name  # DVC's hash of the data
        if name in NEURAL_MODELS:  # a tiny baseline trains within one sampling interval
            assert any(key.startswith("system/") for key in run.data.metrics), name
        record = json.loads((repo / "models" / "imdb" / name / "mlflow.json").read_text())
        logged = {m.key: m for m in client.get_logged_model(record["model_id"]).metrics}
        assert logged["test_accuracy"].value == pytest.approx(run.data.metrics["test_accuracy"])
        assert logged["test_accuracy"].dataset_digest == digest, name
        # evaluation adds no point to the per-epoch validation curve
        steps = [m.step for m in client.get_metric_history(row.run_id, "val_accuracy")]
        assert steps == sorted(set(steps)), (name, steps)
        assert "best_val_accuracy" in run.data.metrics, name


def test_recurrent_runs_have_epoch_curves_summary_and_plot(pipeline):
    env = pipeline[1]
    client = client_of(env)
    run_id = model_runs(env).loc["bilstm", "run_id"]
    for metric in ["loss", "accuracy", "val_loss", "val_accuracy"]:
        assert [m.step for m in client.get_metric_history(run_id, metric)][0] == 0
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"learning_curves.png", "model_summary.txt", "history.csv"} <= artifacts
    assert client.get_run(run_id).data.metrics["train_examples_per_second"] > 0


def test_logged_model_takes_raw_text_and_matches_the_in_process_predictor(pipeline):
    repo, env, _ = pipeline
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])  # pyfunc.load_model reads it
    reviews = ["A wonderful, moving film.<br /><br />Loved it!", "Dull. Boring. Awful."]
    for name in ("lstm", "tfidf"):
        uri = json.loads((repo / "models" / "imdb" / name / "mlflow.json").read_text())["model_uri"]
        served = mlflow.pyfunc.load_model(uri).predict(pd.DataFrame({"text": reviews}))
        assert list(served.columns) == ["probability", "label"]
        assert served.label.isin(["positive", "negative"]).all()
        local = load_predictor(repo / "models" / "imdb" / name / "predictor").positive_probability(
            reviews
        )
        assert served.probability.tolist() == pytest.approx(local.tolist(), abs=1e-6)


def test_evaluation_shows_what_order_buys_for_every_model(pipeline):
    repo, env, _ = pipeline
    expected = {
        "val_accuracy",
        "test_accuracy",
        "test_precision",
        "test_recall",
        "test_f1",
        "test_roc_auc",
        "test_log_loss",
        "shuffled_test_accuracy",
        "shuffled_accuracy_drop",
        "contrast_accuracy",
        "contrast_pair_accuracy",
    }
    metrics = {m: evaluation_of(repo, m) for m in EVALUATED}
    for name, values in metrics.items():
        assert expected <= set(values), name
        for metric in ("test_accuracy", "test_roc_auc", "shuffled_test_accuracy"):
            low, high = values[f"{metric}_ci_low"], values[f"{metric}_ci_high"]
            assert low <= values[metric] <= high, (name, metric)
        assert (repo / "plots" / "imdb" / "roc" / f"{name}.csv").exists()
        confusion = pd.read_csv(repo / "plots" / "imdb" / "confusion" / f"{name}.csv")
        assert len(confusion) == 48  # one row per test review of the tiny archive
    unigram = metrics["tfidf"]
    assert unigram["shuffled_test_accuracy"] == unigram["test_accuracy"]
    assert unigram["contrast_pair_accuracy"] == 0
    report = (repo / "reports" / "imdb" / "comparison.md").read_text()
    assert all(f"| {m} |" in report or f"| **{m}** (champion) |" in report for m in EVALUATED)
    assert "## Findings" in report and "cannot see word order" in report
    assert (repo / "reports" / "imdb" / "figures" / "comparison.png").exists()
    client = client_of(env)
    artifacts = {
        a.path for a in client.list_artifacts(model_runs(env).loc["gru", "run_id"], "evaluation")
    }
    assert {"evaluation/gru_roc.png", "evaluation/gru_confusion.png"} <= artifacts
    histories = sorted(path.stem for path in (repo / "plots" / "imdb" / "history").iterdir())
    assert histories == sorted(NEURAL_MODELS)  # per-epoch curves of every neural model


def test_the_report_opens_with_what_order_buys_on_every_probe(pipeline):
    repo, env, _ = pipeline
    windows = ["1", "2", "4", "8", "16", "64", "all"]
    for name in EVALUATED:
        metrics = evaluation_of(repo, name)
        for key in [*(f"window_{k}" for k in windows), "suite_negation", "subset_length_q1"]:
            assert metrics[f"{key}_accuracy_ci_low"] <= metrics[f"{key}_accuracy"], (name, key)
        for key in ["suite_contrast_group_accuracy", "suite_filler_invariance"]:
            assert 0 <= metrics[key] <= 1, (name, key)
    unigram = evaluation_of(repo, "tfidf")
    assert {unigram[f"window_{k}_accuracy"] for k in windows} == {unigram["test_accuracy"]}
    assert unigram["suite_contrast_group_accuracy"] == unigram["suite_order_group_accuracy"] == 0
    curve = pd.read_csv(repo / "plots" / "imdb" / "shuffle_windows.csv", dtype={"window": str})
    assert len(curve) == len(EVALUATED) * len(windows)
    answer = evaluation_of(repo, "order")
    assert answer["reference"] == "tfidf" and answer["best_recurrent"] in RECURRENT_MODELS
    assert answer["best_bag"] in BAGS and sorted(answer["on_top"]) == sorted(RECURRENT_MODELS)
    # (c): the best recurrent model against the neural bag, both from a random embedding.
    words = answer["words_equal"]
    assert (words["model"], words["neural_bag"]) == (answer["best_recurrent"], "dan")
    assert words["embedding_init"] == "random"
    for values in [answer["head_to_head"], *answer["on_top"].values(), words]:
        assert values["ci_low"] <= values["difference"] <= values["ci_high"]
    # A neural bag reads no order: shuffling, at any window, moves none of its test texts.
    for name in NEURAL_BAGS:
        dan = evaluation_of(repo, name)
        assert {dan[f"window_{k}_accuracy"] for k in windows} == {dan["test_accuracy"]}, name
        assert dan["shuffled_accuracy_drop"] == 0, name
    assert {"test", "suite_negation", "suite_filler", "pairs_handwritten"} <= set(answer["probes"])
    report = (repo / "reports" / "imdb" / "comparison.md").read_text()
    assert report.index("## The answer") < report.index("Probe by probe")
    assert report.index("Probe by probe") < report.index("How far does order reach?")
    assert report.index("How far does order reach?") < report.index("| family |")
    assert "tfidf: flat: exactly" in report
    assert (repo / "reports" / "imdb" / "figures" / "shuffle_windows.png").exists()
    shown = dvc(repo, env, "plots", "show", "--json").stdout
    assert "plots/imdb/shuffle_windows.csv" in shown  # the order curve, a line per model
    client = client_of(env)
    artifacts = {
        a.path for a in client.list_artifacts(model_runs(env).loc["gru", "run_id"], "comparison")
    }
    assert "comparison/shuffle_windows.png" in artifacts


def test_a_model_and_a_baseline_added_to_params_need_no_edit_to_dvc_yaml(pipeline, tmp_path):
    """dvc.yaml follows params.yaml: a second lstm variant and a third baseline are trained,
    evaluated, tracked by `dvc metrics show` and in the report (on a copy of the shared
    pipeline, so only the new models' stages and what reads them run)."""
    repo, env = own_copy(pipeline, tmp_path)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["models"] = {
        "lstm": params["models"]["lstm"],
        "lstm_wide": {**params["models"]["lstm"], "units": 16},
    }
    params["baselines"]["tfidf_small"] = {**params["baselines"]["tfidf"], "max_features": 200}
    params["ensembles"]["gru_nb"]["members"] = ["lstm_wide", "nb_trigram"]
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc_yaml = (repo / "dvc.yaml").read_text()
    dvc(repo, env, "repro")
    assert (repo / "dvc.yaml").read_text() == dvc_yaml
    names = ["lstm", "lstm_wide", "tfidf", "tfidf_bigram", "nb_trigram", "tfidf_small"]
    files = metric_files(repo, env)
    for name in names:
        assert 0 <= files[f"metrics/imdb/train/{name}.json"]["data"]["val"] <= 1, name
    assert set(files["metrics/imdb/test.json"]["data"]) == set(names + ENSEMBLES)
    report = (repo / "reports" / "imdb" / "comparison.md").read_text()
    for name in names:
        assert f"| {name} |" in report or f"| **{name}** (champion) |" in report, name
    assert (repo / "plots" / "imdb" / "history" / "lstm_wide.csv").exists()
    assert "Data and pipelines are up to date" in dvc(repo, env, "status").stdout


def test_every_model_is_registered(pipeline):
    versions = client_of(pipeline[1]).search_model_versions("name='imdb-sentiment'")
    assert sorted(v.tags["model_name"] for v in versions) == sorted(EVALUATED)


def test_the_champion_alias_serves_the_best_by_validation(pipeline):
    env = pipeline[1]
    runs = model_runs(env)
    champion = client_of(env).get_model_version_by_alias("imdb-sentiment", "champion")
    best_val = runs["metrics.best_val_accuracy"].max()
    assert runs.loc[champion.tags["model_name"], "metrics.best_val_accuracy"] == best_val
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])  # pyfunc.load_model reads it
    served = mlflow.pyfunc.load_model("models:/imdb-sentiment@champion").predict(
        pd.DataFrame({"text": ["Great!", "Terrible."]})
    )
    assert len(served) == 2


def test_metrics_show_is_a_short_headline(pipeline):
    repo, env, _ = pipeline
    files = metric_files(repo, env)
    expected = [f"metrics/imdb/{stem}.json" for stem in HEADLINE]
    assert sorted(files) == sorted(expected + [f"metrics/imdb/train/{m}.json" for m in EVALUATED])
    for stem in PER_MODEL:
        assert set(files[f"metrics/imdb/{stem}.json"]["data"]) == set(EVALUATED), stem
    order = evaluation_of(repo, "order")
    head = order["head_to_head"]
    assert files["metrics/imdb/head_to_head.json"]["data"] == {
        head["model"]: pytest.approx(head["difference"])
    }
    assert set(files["metrics/imdb/on_top.json"]["data"]) == set(RECURRENT_MODELS)
    words = order["words_equal"]
    assert files["metrics/imdb/words_equal.json"]["data"] == {
        words["model"]: pytest.approx(words["difference"])
    }
    trained = {"val", "seconds"}
    assert set(files["metrics/imdb/train/gru.json"]["data"]) == trained
    assert set(files["metrics/imdb/train/tfidf.json"]["data"]) == {"val", "seconds"}
    # The README's and `make run`'s command: three decimals (DVC's default five is wider).
    table = dvc(repo, env, "metrics", "show", "--precision", "3").stdout.splitlines()
    assert len(table) <= 40 and max(map(len, table)) <= 160, table


def test_compare_pairs_every_recurrent_model_with_every_order_blind_one(pipeline):
    differences = evaluation_of(pipeline[0], "differences")
    blind = [*BAGS, *NEURAL_BAGS]
    assert set(differences) == {f"{r} - {b}" for r in RECURRENT_MODELS for b in blind}


def test_a_second_repro_runs_nothing(pipeline):
    repo, env, _ = pipeline
    assert "Running stage" not in dvc(repo, env, "repro").stdout
    assert "Data and pipelines are up to date" in dvc(repo, env, "status").stdout


def test_a_wording_change_to_the_report_re_runs_only_the_report(pipeline, tmp_path):
    repo, env = own_copy(pipeline, tmp_path / "wording")
    renderer = repo / "src" / "imdb_sentiment" / "report" / "comparison.py"
    renderer.write_text(renderer.read_text() + "\n# a wording change\n")
    rerun = dvc(repo, env, "repro")
    assert rerun.stdout.count("Running stage") == 1, rerun.stdout
    assert "Running stage 'report@imdb'" in rerun.stdout
    assert (repo / "reports" / "imdb" / "comparison.md").read_text() == (
        pipeline[0] / "reports" / "imdb" / "comparison.md"
    ).read_text()


def test_a_killed_training_resumes_from_its_last_checkpoint(prepared, tmp_path):
    repo, env = own_copy(prepared, tmp_path)
    store = env["MLFLOW_TRACKING_URI"]
    # Many short epochs so the kill lands mid-training; patience high so none stop early.
    edit_params(repo, train={"epochs": 25, "patience": 25})
    command = [sys.executable, "stages/train.py", "imdb", "simple_rnn"]
    state_file = repo / "checkpoints" / "imdb" / "simple_rnn" / "state.json"
    first = subprocess.Popen(command, cwd=repo, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and first.poll() is None:
        if state_file.exists() and json.loads(state_file.read_text())["epochs_done"] >= 2:
            break
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    killed_state = json.loads(state_file.read_text())
    assert 2 <= killed_state["epochs_done"] < 25, "the kill did not land mid-training"

    resumed = subprocess.run(
        command, cwd=repo, env=env, capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming simple_rnn from its checkpoint after epoch {killed_state['epochs_done']}" in (
        resumed.stderr
    )
    history = pd.read_csv(repo / "models/imdb/simple_rnn/history.csv")
    assert history.epoch.tolist() == list(range(1, 26))
    # Bit-identical to a run nobody killed: the same batches, dropout masks and Adam state.
    uninterrupted = subprocess.run(
        command, cwd=repo, env=env, capture_output=True, text=True, timeout=300
    )
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    assert "resuming" not in uninterrupted.stderr
    reference = pd.read_csv(repo / "models/imdb/simple_rnn/history.csv")
    curves = ["loss", "accuracy", "val_loss", "val_accuracy"]
    pd.testing.assert_frame_equal(history[curves], reference[curves], check_exact=True)
    client = mlflow.MlflowClient(tracking_uri=store)
    run = client.get_run(killed_state["run_id"])  # the resumed run, finished
    assert run.info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "loss")]
    assert sorted(set(steps)) == list(range(25))
    assert not state_file.parent.exists()  # the checkpoint goes once the model is written


def test_bad_params_stop_the_pipeline_with_one_line_and_no_outputs(tmp_path, tiny_archive):
    repo = copy_repo(tmp_path / "repo")
    env = project_env(f"sqlite:///{tmp_path / 'mlflow.db'}")
    edit_params(repo, train={"epochs": 0})
    result = dvc(repo, env, "repro", check=False)
    assert result.returncode != 0
    assert "params.yaml: train.epochs must be >= 1, got 0" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (repo / "data" / "raw" / "imdb" / "aclImdb_v1.tar.gz").exists()


def readme_block(containing: str) -> list[list[str]]:
    """The commands of the README's shell block that holds ``containing``, as argv."""
    blocks = (REPO / "README.md").read_text().split("```bash\n")[1:]
    (block,) = [b.split("```")[0] for b in blocks if containing in b.split("```")[0]]
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


def test_the_readme_sweep_runs_and_exp_show_only_changed_is_readable(pipeline, tmp_path):
    """The README's sweep, as written: two queued experiments, one worker, then the
    comparison command it shows."""
    repo, env = own_copy(pipeline, tmp_path / "sweep")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "the pipeline's results")
    commands = {tuple(argv[:3]): argv for argv in readme_block("dvc exp run --queue")}
    queue, start = commands[("dvc", "exp", "run")], commands[("dvc", "queue", "start")]
    show = commands[("dvc", "exp", "show")]
    dvc(repo, env, *queue[1:])
    dvc(repo, env, *start[1:])
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        status = dvc(repo, env, "queue", "status").stdout
        if not any(word in status for word in ("Queued", "Running")):
            break
        time.sleep(3)
    assert "Failed" not in status and "Success" in status, status
    table = dvc(repo, env, *show[1:], "--no-pager", "--csv").stdout.splitlines()
    header = next(csv.reader([table[0]]))
    shown = ", ".join(header)
    assert len(header) <= 40, shown
    assert "models.simple_rnn.units" in header, shown  # what the sweep changed, no hash column
    assert not [h for h in header if h.split("/")[0] in {"data", "models", "scores", "plots"}]
    assert not [h for h in header if h.endswith((":seconds", "_ci_low", "_ci_high"))], shown
    assert len(table) >= 4, table  # the header, the baseline and the two experiments
    # The table's width, each column as wide as its name plus the gaps between them.
    assert sum(len(name) + 3 for name in header) <= 200, shown


def stages_run(repo: Path, env: dict) -> set[str]:
    """The stages a real `dvc repro` runs (a dry run cannot know which outputs will change)."""
    out = dvc(repo, env, "repro").stdout
    return {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}


def test_a_one_model_change_re_runs_that_models_stages_and_what_reads_them(pipeline, tmp_path):
    repo, env = own_copy(pipeline, tmp_path / "one")
    params = read_params(repo)
    params["models"]["simple_rnn"]["units"] = 12
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # The ensemble depends on every single model's scores (DVC cannot list a variable number
    # of members), so it re-runs too, in seconds; no other model is trained or scored again.
    # transfer@imdb reads the corpus's evaluation; the summary re-renders when what it read
    # changed.
    kinds = ("ensemble", "score_ensemble")
    ensembles = {f"{kind}@imdb-{e}" for e in ENSEMBLES for kind in kinds}
    expected = {
        "train@imdb-simple_rnn",
        "score@imdb-simple_rnn",
        *ensembles,
        "compare@imdb",
        "report@imdb",
        "transfer@imdb",
    }
    assert expected <= stages_run(repo, env) <= expected | {"summary"}


def test_changing_an_ensembles_members_re_runs_only_the_ensemble_and_what_reads_it(
    pipeline, tmp_path
):
    repo, env = own_copy(pipeline, tmp_path / "members")
    params = read_params(repo)
    params["ensembles"]["gru_nb"]["members"] = ["lstm", "nb_trigram"]
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    expected = {
        "ensemble@imdb-gru_nb",
        "score_ensemble@imdb-gru_nb",
        "compare@imdb",
        "report@imdb",
        "transfer@imdb",
    }
    assert expected <= stages_run(repo, env) <= expected | {"summary"}


def test_a_model_removed_from_params_leaves_compares_outputs(pipeline, tmp_path):
    repo, env = own_copy(pipeline, tmp_path / "removed")
    params = read_params(repo)
    del params["models"]["lstm"]
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    rerun = dvc(repo, env, "repro")
    assert "Running stage 'compare@imdb'" in rerun.stdout
    assert "lstm" not in metric_files(repo, env)["metrics/imdb/test.json"]["data"]
    assert not (repo / "reports" / "imdb" / "evaluation" / "lstm.json").exists()
    assert not (repo / "plots" / "imdb" / "roc" / "lstm.csv").exists()
    assert "lstm" not in evaluation_of(repo, "order")["on_top"]
    assert "| lstm |" not in (repo / "reports" / "imdb" / "comparison.md").read_text()


# A light stage's command -> the libraries it must not import: each costs seconds at start.
LIGHT_STAGES = {
    "probes": (["stages/probes.py", "imdb"], ["tensorflow", "keras", "mlflow", "sklearn", "skops"]),
    "compare": (
        ["stages/compare.py", "imdb"],
        ["tensorflow", "keras", "mlflow", "skops", "matplotlib"],
    ),
    "report": (
        ["stages/report.py", "imdb"],
        ["tensorflow", "keras", "skops"],
    ),  # MLflow loads sklearn
    "score_ensemble": (["stages/score.py", "imdb", "gru_nb"], ["tensorflow", "keras", "skops"]),
    "ensemble": (
        ["stages/ensemble.py", "imdb", "gru_nb"],
        ["tensorflow", "keras", "skops", "matplotlib"],
    ),
}


@pytest.mark.parametrize("stage", LIGHT_STAGES)
def test_a_light_stage_imports_no_heavy_library_it_does_not_use(pipeline, tmp_path, stage):
    repo, env = own_copy(pipeline, tmp_path / "light")
    argv, forbidden = LIGHT_STAGES[stage]
    probe = (
        f"import runpy, sys; sys.argv = {argv!r}; "
        f"runpy.run_path({argv[0]!r}, run_name='__main__'); "
        f"print(sorted(m for m in {forbidden!r} if m in sys.modules))"
    )
    env |= {"DVC_STAGE": stage}
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=repo, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]", f"{stage} imported {result.stdout}"


def read_params(repo: Path) -> dict:
    return yaml.safe_load((repo / "params.yaml").read_text())
