"""Two corpora in one pipeline: IMDB's tiny archive and the treebank's tiny cut, side by side.

Each corpus is a dimension of the pipeline (DVC's foreach and matrix over params.yaml
`corpora:`): its own stages, folders, MLflow runs and champion."""

from __future__ import annotations

import json

import mlflow
import pandas as pd
import pytest
from conftest import (
    ENSEMBLES,
    FEW_MODELS,
    dvc,
    edit_params,
    own_copy,
    runs_in,
    section,
    table_with,
)

from imdb_sentiment.serving.scoring_server import scoring_server

pytestmark = pytest.mark.slow

CORPORA = ("imdb", "sst2")


def test_every_corpus_has_its_own_stages_outputs_and_runs(corpora):
    repo, env, first = corpora
    for corpus in CORPORA:
        assert f"Running stage 'score_ensemble@{corpus}-gru_nb'" in first.stdout
        for name in FEW_MODELS + ENSEMBLES:
            assert (repo / "models" / corpus / name / "mlflow.json").exists(), (corpus, name)
        test = json.loads((repo / "metrics" / corpus / "test.json").read_text())
        assert set(test) == set(FEW_MODELS + ENSEMBLES), corpus
        assert (repo / "reports" / corpus / "comparison.md").exists()
        stats = json.loads((repo / "reports" / corpus / "dataset_stats.json").read_text())
        assert set(stats["counts"]) >= {"train", "val", "test"}
    sst2 = json.loads((repo / "reports" / "sst2" / "dataset_stats.json").read_text())
    assert sst2["kinds"]["val"] == {"sentence": sst2["counts"]["val"]["total"]}  # dev sentences
    assert sst2["dropped"]["neutral"]["train"] > 0

    runs = runs_in(env["MLFLOW_TRACKING_URI"])
    runs = runs[runs["tags.dvc_stage"].notna()]
    for corpus in CORPORA:
        mine = runs[runs["tags.corpus"] == corpus]
        assert sorted(mine["tags.mlflow.runName"]) == sorted(
            f"{corpus}/{name}" for name in FEW_MODELS + ENSEMBLES
        )
        for name in FEW_MODELS + ENSEMBLES:
            record = json.loads((repo / "models" / corpus / name / "mlflow.json").read_text())
            row = mine[mine["tags.model_name"] == name].iloc[0]
            assert record["run_id"] == row.run_id
            if name in FEW_MODELS:  # trained on that corpus's prepared data
                assert row["params.corpus"] == corpus
    assert "Data and pipelines are up to date" in dvc(repo, env, "status").stdout


def test_the_summary_sets_the_corpora_side_by_side_with_transfer(corpora):
    repo, _, _ = corpora
    summary = (repo / "reports" / "summary.md").read_text()
    answer = table_with(section(summary, "## The answer"), "best bag")
    assert list(answer) == list(CORPORA)
    for corpus in CORPORA:
        found = json.loads((repo / "reports" / "corpora" / f"{corpus}.json").read_text())
        evaluation = repo / "reports" / corpus / "evaluation"
        order = json.loads((evaluation / "order.json").read_text())
        assert found["head_to_head"] == order["head_to_head"]  # read back, not recomputed
        assert set(found["transfer"]) == set(CORPORA)
        for name, model in found["models"].items():
            own = found["transfer"][corpus]["accuracy"][name]["accuracy"]
            assert own == pytest.approx(model["test_accuracy"], abs=1e-6)
        other = next(c for c in CORPORA if c != corpus)
        assert (
            found["transfer"][other]["n"]
            == json.loads(
                (repo / "reports" / other / "evaluation" / "comparison.json").read_text()
            )["texts"]["test"]
        )
    transfer = section(summary, "## Transfer")
    assert all(f"on {corpus}'s test set" in transfer for corpus in CORPORA)


def test_a_change_to_one_corpus_re_runs_that_corpus_alone(corpora, tmp_path):
    repo, env = own_copy(corpora, tmp_path)
    before = {c: (repo / "metrics" / c / "test.json").read_text() for c in CORPORA}
    edit_params(repo, corpora={"sst2": {"read": {"format": "treebank", "train_on": "sentences"}}})
    rerun = dvc(repo, env, "repro")
    ran = [line for line in rerun.stdout.splitlines() if line.startswith("Running stage")]
    # Beyond SST-2's own stages, only what reads every corpus: IMDB's models on SST-2's test
    # set (transfer@imdb) and the side-by-side summary.
    shared = ("Running stage 'transfer@imdb':", "Running stage 'summary':")
    assert ran and all("sst2" in line for line in ran if line not in shared), ran
    assert any("prepare@sst2" in line for line in ran)
    assert (repo / "metrics" / "imdb" / "test.json").read_text() == before["imdb"]
    stats = json.loads((repo / "reports" / "sst2" / "dataset_stats.json").read_text())
    assert stats["kinds"]["train"] == {"sentence": stats["counts"]["train"]["total"]}


@pytest.mark.parametrize("corpus", CORPORA)
def test_each_corpus_champion_serves_raw_text_and_refuses_a_null(corpora, corpus):
    repo, env, _ = corpora
    client = mlflow.MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    version = client.get_model_version_by_alias(f"{corpus}-sentiment", "champion")
    run = client.get_run(version.run_id)
    assert run.data.tags["corpus"] == corpus  # picked among that corpus's models only
    with scoring_server(f"models:/{corpus}-sentiment@champion", repo, env) as url:
        import requests

        ok = requests.post(
            f"{url}/invocations",
            json={"inputs": ["A wonderful, moving film.", "It doesn't work."]},
            timeout=60,
        )
        assert ok.status_code == 200, ok.text
        assert len(ok.json()["predictions"]) == 2
        bad = requests.post(
            f"{url}/invocations",
            json={"dataframe_records": [{"text": "ok"}, {"text": None}]},
            timeout=60,
        )
        assert bad.status_code == 400, bad.text
        assert "row 1" in bad.text


def test_each_corpus_is_a_registered_model_with_its_own_champion(corpora):
    _, env, _ = corpora
    client = mlflow.MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    for corpus in CORPORA:
        versions = client.search_model_versions(f"name='{corpus}-sentiment'")
        names = {v.tags["model_name"] for v in versions}
        assert names == set(FEW_MODELS + ENSEMBLES), corpus
        runs = {client.get_run(v.run_id).data.tags["corpus"] for v in versions}
        assert runs == {corpus}


def test_dvc_metrics_show_puts_the_corpora_side_by_side(corpora):
    repo, env, _ = corpora
    shown = json.loads(dvc(repo, env, "metrics", "show", "--json").stdout)
    files = next(iter(shown.values()))["data"]
    for corpus in CORPORA:
        assert set(files[f"metrics/{corpus}/test.json"]["data"]) == set(FEW_MODELS + ENSEMBLES)
    # the README's command: three decimals keep the full data's table within 160 columns
    lines = dvc(repo, env, "metrics", "show", "--precision", "3").stdout.splitlines()
    assert len(lines) <= 40 and max(len(line) for line in lines) <= 160
    # one row a corpus, one column a model: the same models' numbers, side by side
    frame = pd.DataFrame({c: files[f"metrics/{c}/test.json"]["data"] for c in CORPORA}).T
    assert list(frame.index) == list(CORPORA) and frame.notna().all().all()
