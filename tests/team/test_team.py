"""Team scale, for real: a PostgreSQL-backed `mlflow server`, `mlflow run` entry points, DVC's
experiment queue with two workers, a DVC remote, and an unreachable tracking server."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
import requests
import yaml
from conftest import (
    ENSEMBLES,
    FEW_MODELS,
    MODELS,
    build_once,
    dvc,
    edit_params,
    git,
    own_copy,
    postgres_folder,
    project_env,
    promote,
    runs_in,
    tiny_repo,
)

from imdb_sentiment.serving.scoring_server import scoring_server
from imdb_sentiment.tracking.services import free_port
from imdb_sentiment.tracking.team_server import (
    RunningServer,
    tracking_server,
)
from imdb_sentiment.tuning.study import PARENT_ATTR
from imdb_sentiment.tuning.workers import STUDY_TAG

pytestmark = pytest.mark.slow
QUEUE_TIMEOUT = 900  # seconds for two tiny experiments on two workers


def local_store(repo: Path) -> str:
    """The store a stage uses when MLFLOW_TRACKING_URI is unset: mlflow.db at the repo root."""
    return f"sqlite:///{repo / 'mlflow.db'}"


def default_store_env() -> dict[str, str]:
    env = project_env("unused")
    del env["MLFLOW_TRACKING_URI"]
    return env


@pytest.fixture(scope="module")
def team_tracking(tmp_path_factory) -> Iterator[RunningServer]:
    """A real PostgreSQL cluster and `mlflow server` on free 127.0.0.1 ports, in a temp dir."""
    build_once(tmp_path_factory, "team_tracking")
    folder = postgres_folder("imdb-team-server-")
    try:
        with tracking_server(
            folder, port=free_port(), postgres_port=free_port(), workers=2
        ) as server:
            yield server
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def team_server(team_tracking) -> str:
    return team_tracking.url


@pytest.fixture(scope="module")
def server_pipeline(tmp_path_factory, tiny_archive, team_server):
    """The tiny pipeline, end to end through `mlflow run .` (the MLproject's main entry: `dvc
    repro`, then promote), against the PostgreSQL-backed tracking server."""
    repo = tiny_repo(tmp_path_factory.mktemp("server-repo"), tiny_archive, FEW_MODELS)
    env = project_env(team_server)
    started = time.monotonic()
    result = mlflow_run(repo, "--experiment-name", "imdb-sentiment", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    print(f"tiny pipeline against the PostgreSQL-backed server: {time.monotonic() - started:.1f}s")
    return repo, env


def test_pipeline_logs_everything_to_the_postgres_backed_server(server_pipeline, team_server):
    repo, _ = server_pipeline
    runs = runs_in(team_server)  # the team's store: the tuning tests' studies are there too
    (parent,) = runs[runs["tags.mlflow.project.entryPoint"] == "main"].itertuples()
    assert parent.status == "FINISHED"
    children = runs[runs["tags.mlflow.parentRunId"] == parent.run_id]
    staged = runs[runs["tags.dvc_stage"].notna()]  # every run a pipeline stage started
    assert set(staged.run_id) == set(children.run_id)  # none floats free, none took over
    assert set(children.experiment_id) == {parent.experiment_id}
    runs = children.set_index("tags.model_name")
    assert sorted(runs.index) == sorted(FEW_MODELS + ENSEMBLES)
    assert (runs.status == "FINISHED").all()
    assert runs["metrics.test_accuracy"].between(0, 1).all()
    assert runs.loc["gru", "params.model.batch_size"] == "32"
    client = mlflow.MlflowClient(tracking_uri=team_server)
    gru = runs.loc["gru"]
    assert gru.artifact_uri.startswith("mlflow-artifacts:/")  # proxied by the server
    artifacts = {a.path for a in client.list_artifacts(gru.run_id)}
    assert {"learning_curves.png", "model_summary.txt", "evaluation", "comparison"} <= artifacts
    assert len(client.get_metric_history(gru.run_id, "val_accuracy")) >= 1
    assert {a.path for a in client.list_artifacts(parent.run_id, "comparison/imdb")} == {
        "comparison/imdb/comparison.md",
        "comparison/imdb/comparison.png",
    }
    champion = client.get_model_version_by_alias("imdb-sentiment", "champion")
    assert champion.run_id in set(runs.run_id)
    tags = client.get_run(parent.run_id).data.tags
    assert tags["champion.imdb"] == champion.tags["model_name"]
    record = json.loads((repo / "models" / "imdb" / "tfidf" / "mlflow.json").read_text())
    assert record["tracking_uri"] == team_server


def test_champion_is_served_through_the_tracking_server(server_pipeline, tmp_path):
    _, env = server_pipeline
    with scoring_server("models:/imdb-sentiment@champion", tmp_path, env) as url:
        answer = requests.post(
            f"{url}/invocations",
            json={"dataframe_split": {"columns": ["text"], "data": [["A wonderful film."]]}},
            timeout=60,
        )
    assert answer.status_code == 200, answer.text
    (prediction,) = answer.json()["predictions"]
    assert 0 <= prediction["probability"] <= 1
    assert prediction["label"] in {"positive", "negative"}


def mlflow_run(
    repo: Path, *args: str, params: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`mlflow run . ARGS -P ...` as a user types it, against the repo's own mlflow.db unless
    ``env`` names another store."""
    command = [sys.executable, "-m", "mlflow", "run", ".", "--env-manager", "local", *args]
    for param in params:
        command += ["-P", param]
    return subprocess.run(
        command,
        cwd=repo,
        env=env or default_store_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_mlflow_run_train_nests_the_model_run_under_the_project_run(tmp_path, tiny_archive):
    repo = tiny_repo(tmp_path / "repo", tiny_archive)
    result = mlflow_run(repo, "-e", "train", params=("model=gru", "units=12"))
    assert result.returncode == 0, result.stdout + result.stderr
    runs = runs_in(local_store(repo))
    parents = runs[runs["tags.mlflow.project.entryPoint"] == "train"]
    assert len(parents) == 1
    parent = parents.iloc[0]
    assert parent.status == "FINISHED"
    assert parent["params.model"] == "gru"
    assert parent["params.units"] == "12"
    children = runs[runs["tags.mlflow.parentRunId"] == parent.run_id]
    assert list(children["tags.mlflow.runName"]) == ["imdb/gru"]
    child = children.iloc[0]
    assert child.status == "FINISHED"
    assert child["params.model.units"] == "12"
    assert child.experiment_id == parent.experiment_id  # where the UI can nest it
    assert len(runs) == 2  # no model run floats free
    assert child["tags.dvc_exp_name"]  # ran as a DVC experiment: `dvc exp show` lists it
    # The project's own store is recorded relative to the project: true after `dvc pull`
    # on another machine, where an absolute path would point at nothing.
    record = json.loads((repo / "models" / "imdb" / "gru" / "mlflow.json").read_text())
    assert record["tracking_uri"] == "sqlite:///mlflow.db"
    assert record["model_id"] and record["model_uri"] == f"models:/{record['model_id']}"


def test_mlflow_run_rejects_a_bad_parameter_before_dvc_starts(tmp_path, tiny_archive):
    repo = tiny_repo(tmp_path / "repo", tiny_archive)
    result = mlflow_run(repo, "-e", "train", params=("model=gru", "epochs=0"))
    assert result.returncode != 0
    assert "train.epochs must be >= 1, got 0" in result.stderr
    assert not (repo / "data" / "raw" / "imdb").exists()  # DVC never ran
    (parent,) = runs_in(local_store(repo)).itertuples()
    assert parent.status == "FAILED"


def test_queued_experiments_on_two_workers_land_in_the_repo_store(tmp_path, tiny_archive):
    repo = tiny_repo(tmp_path / "repo", tiny_archive)
    env = default_store_env()  # the repo's own mlflow.db, created by the racing workers
    dvc(repo, env, "repro", "prepare@imdb")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "prepared")
    for units in (8, 16):
        dvc(repo, env, "exp", "run", "--queue", "train@imdb-gru", "-S", f"models.gru.units={units}")
    dvc(repo, env, "queue", "start", "-j", "2")
    try:
        wait_for_queue(repo, env)
    finally:
        dvc(repo, env, "queue", "stop", check=False)
    shown = json.loads(dvc(repo, env, "exp", "show", "--json").stdout)
    names = {exp["name"] for rev in shown for exp in rev.get("experiments") or []}
    assert len(names) == 2, dvc(repo, env, "queue", "status").stdout
    runs = runs_in(local_store(repo), **{"tags.mlflow.runName": "imdb/gru"})
    assert set(runs["tags.dvc_exp_name"]) == names
    assert set(runs["params.model.units"]) == {"8", "16"}
    assert (runs.status == "FINISHED").all()
    # MLflow resolves a run's logged model through the process-wide tracking URI, whatever
    # the client's own: this check has to set it.
    mlflow.set_tracking_uri(local_store(repo))
    for run in runs.itertuples():  # artifacts outlive the temporary copies DVC ran in
        assert mlflow.MlflowClient(local_store(repo)).list_artifacts(run.run_id, "gru")


def wait_for_queue(repo: Path, env: dict[str, str]) -> None:
    deadline = time.monotonic() + QUEUE_TIMEOUT
    while time.monotonic() < deadline:
        status = dvc(repo, env, "queue", "status").stdout
        if not any(word in status for word in ("Queued", "Running")):
            assert "Failed" not in status, status + dvc(repo, env, "queue", "logs", "-h").stdout
            return
        time.sleep(3)
    raise TimeoutError(f"queue still busy after {QUEUE_TIMEOUT}s:\n{status}")


def test_dvc_push_then_pull_in_a_fresh_clone_needs_no_retraining(pipeline, tmp_path):
    repo = shutil.copytree(pipeline[0], tmp_path / "team", symlinks=True)
    env = pipeline[1]
    assert "up to date" in dvc(repo, env, "status").stdout  # no test changes the shared one
    remote = tmp_path / "remote"
    dvc(repo, env, "remote", "add", "-d", "team", str(remote))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "results and the team remote")
    dvc(repo, env, "push")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    dvc(clone, env, "pull")
    for name in MODELS + ENSEMBLES:
        assert (clone / "models" / "imdb" / name / "mlflow.json").exists()
    assert (clone / "data" / "prepared").is_dir()
    status = dvc(clone, env, "status")
    assert "up to date" in status.stdout, status.stdout
    dry = dvc(clone, env, "repro", "--dry")
    assert "Running stage" not in dry.stdout, dry.stdout


def test_an_unreachable_tracking_server_fails_the_stage_in_seconds(pipeline, tmp_path):
    repo = shutil.copytree(pipeline[0], tmp_path / "offline", symlinks=True)
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = project_env(uri)
    started = time.monotonic()
    result = dvc(repo, env, "repro", "--force", "--single-item", "train@imdb-lstm", check=False)
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert f"MLflow tracking server {uri} is not reachable" in result.stderr
    assert "imdb-sentiment tracking-server" in result.stderr
    assert elapsed < 60, f"took {elapsed:.0f}s to fail"
    assert not (repo / "models" / "imdb" / "lstm").exists()
    leftovers = {p.name for p in (repo / "models" / "imdb").iterdir()} - {
        ".gitignore",
        *MODELS,
        *ENSEMBLES,
    }
    assert not leftovers  # no half-written temp folder either
    assert not (repo / "checkpoints" / "imdb" / "lstm").exists()


def test_scoring_never_touches_the_registry_and_promote_moves_the_champion(pipeline, tmp_path):
    """A sweep's queued workers run the score and compare stages, never `promote`: none of
    them can move `champion`, in whatever order they finish."""
    repo, env = own_copy(pipeline, tmp_path)  # the score stage logs to gru's run
    copy = shutil.copytree(repo, tmp_path / "exp-copy", symlinks=True)
    client = mlflow.MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    champion = client.get_model_version_by_alias("imdb-sentiment", "champion")
    versions = client.search_model_versions("name='imdb-sentiment'")
    other = next(v for v in versions if v.version != champion.version)
    client.set_registered_model_alias("imdb-sentiment", "champion", other.version)
    # What a queued experiment's stage sees: cwd a temporary copy, DVC_ROOT the project.
    for stage in (["stages/score.py", "imdb", "gru"], ["stages/compare.py", "imdb"]):
        result = subprocess.run(
            [sys.executable, *stage],
            cwd=copy,
            env={**env, "DVC_ROOT": str(repo), "DVC_EXP_NAME": "sweep-1"},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr
    after = client.get_model_version_by_alias("imdb-sentiment", "champion")
    assert after.version == other.version
    assert len(client.search_model_versions("name='imdb-sentiment'")) == len(versions)

    promote(copy, env)  # a person promotes: the best by validation accuracy again
    after = client.get_model_version_by_alias("imdb-sentiment", "champion")
    assert after.version == champion.version


# --- One study, two workers, the team server -------------------------------------------------

TUNE_TRIALS = 4
TUNE_HEARTBEAT = 3  # seconds: a killed worker's trial is failed and retried 9 s after its last
TUNE_TIMEOUT = 300  # seconds for one worker to finish the tiny study


@pytest.fixture(scope="module")
def tuning_repo(tmp_path_factory, tiny_archive):
    """A tiny repo with prepared data, whose trials run three short epochs (so a worker can be
    killed between two of them)."""
    repo = tiny_repo(tmp_path_factory.mktemp("tuning-repo"), tiny_archive)
    edit_params(repo, train={"epochs": 3, "patience": 2})
    git(repo, "commit", "-qam", "three epochs a trial")
    # A trial may start from the word vectors (the search covers the choice).
    dvc(repo, default_store_env(), "repro", "prepare@imdb", "word_vectors")
    return repo


def machines(tuning_repo: Path, folder: Path) -> list[Path]:
    """Two clones of the prepared repo: what two machines have after `git clone` + `dvc pull`."""
    return [shutil.copytree(tuning_repo, folder / n, symlinks=True) for n in ("m1", "m2")]


def fresh_database(storage: str, name: str) -> str:
    """A new, empty database ``name`` on the cluster of ``storage``; its storage URL."""
    import psycopg

    base, _ = storage.rsplit("/", 1)
    with psycopg.connect(storage.replace("+psycopg", ""), autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return f"{base}/{name}"


def start_worker(repo: Path, server: str, storage: str, log: Path) -> subprocess.Popen:
    """`imdb-sentiment tune gru --trials N --storage URL --write-params` as each machine runs it;
    stderr (the log) into ``log``."""
    command = [
        sys.executable,
        "-m",
        "imdb_sentiment",
        "tune",
        "gru",
        "--trials",
        str(TUNE_TRIALS),
        "--storage",
        storage,
        "--write-params",
        "--heartbeat",
        str(TUNE_HEARTBEAT),
    ]
    with log.open("w") as out:
        return subprocess.Popen(
            command, cwd=repo, env=project_env(server), stdout=out, stderr=subprocess.STDOUT
        )


def finish(worker: subprocess.Popen, log: Path) -> str:
    try:
        worker.wait(timeout=TUNE_TIMEOUT)
    finally:
        worker.kill()  # a no-op once it has exited
    text = log.read_text()
    assert worker.returncode == 0, text[-4000:]
    return text


def the_study(storage: str):
    import optuna

    (summary,) = optuna.get_all_study_summaries(storage)
    return optuna.load_study(study_name=summary.study_name, storage=storage)


def trained(study) -> list:
    """The trials that trained: every one but those stopped untrained for the budget."""
    return [t for t in study.trials if "skipped" not in t.user_attrs]


def finished(study) -> list:
    return [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]


def test_two_workers_share_one_study_through_the_team_server(team_tracking, tuning_repo, tmp_path):
    storage = fresh_database(team_tracking.tuning_storage, "optuna_shared")
    repos = machines(tuning_repo, tmp_path)
    logs = [tmp_path / f"worker-{n}.log" for n in (1, 2)]
    started = time.monotonic()
    workers = [
        start_worker(r, team_tracking.url, storage, log) for r, log in zip(repos, logs, strict=True)
    ]
    outputs = [finish(worker, log) for worker, log in zip(workers, logs, strict=True)]
    print(f"two workers, {TUNE_TRIALS} trials: {time.monotonic() - started:.1f}s")

    study = the_study(storage)
    assert len(finished(study)) == TUNE_TRIALS
    assert {t.state.name for t in study.trials} <= {"COMPLETE", "PRUNED", "FAIL"}
    assert all("skipped" in t.user_attrs for t in study.trials if t.state.name == "FAIL")
    configurations = [json.dumps(t.params, sort_keys=True) for t in trained(study)]
    assert len(set(configurations)) == len(configurations), configurations  # none twice
    assert len({t.user_attrs["worker"] for t in trained(study)}) == 2  # both drew trials

    # Each worker has its parent run on the server; each trained trial is one run under the
    # parent of the worker that trained it.
    runs = runs_in(team_tracking.url, **{f"tags.{STUDY_TAG}": study.study_name})
    # The killed-worker test's study has the same name (another database): its parents are
    # tagged alike, so keep the runs this study records as its own.
    own = {key.removeprefix(PARENT_ATTR) for key in study.user_attrs if key.startswith(PARENT_ATTR)}
    runs = runs[runs.run_id.isin(own)]
    parents = {run.run_id: run["tags.tuning_worker"] for _, run in runs.iterrows()}
    assert len(parents) == 2 and set(parents.values()) == {
        t.user_attrs["worker"] for t in trained(study)
    }
    children = runs_in(team_tracking.url)
    children = children[children["tags.mlflow.parentRunId"].isin(parents)]
    assert sorted(children["tags.number"].astype(int)) == [t.number for t in trained(study)]
    for trial in trained(study):
        (run,) = [row for _, row in children.iterrows() if row["tags.number"] == str(trial.number)]
        assert parents[run["tags.mlflow.parentRunId"]] == trial.user_attrs["worker"]
        assert run["params.model.units"] == str(trial.params["units"])
    assert (children.status == "FINISHED").all() and (runs.status == "FINISHED").all()

    # --write-params on each machine picks the winner the generated report names.
    for repo, output in zip(repos, outputs, strict=True):
        report = (repo / "reports" / "imdb" / "tuning.md").read_text()
        winner = int(re.search(r"Winner: trial (\d+)", report).group(1))
        assert "params.yaml has it." in report
        entry = yaml.safe_load((repo / "params.yaml").read_text())["models"]["gru"]
        drawn = study.trials[winner].params  # params.yaml has a stepped float's meant value
        assert {k: entry[k] for k in drawn} == pytest.approx(drawn, rel=1e-12)
        assert "params.yaml: imdb's gru <- {'arch': 'gru'" in output


def wait_for_line(log: Path, pattern: str, worker: subprocess.Popen) -> re.Match:
    deadline = time.monotonic() + TUNE_TIMEOUT
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text())
        if found:
            return found
        assert worker.poll() is None, f"worker exited first:\n{log.read_text()[-4000:]}"
        time.sleep(0.05)
    raise TimeoutError(f"no line matching {pattern!r} in {log} after {TUNE_TIMEOUT}s")


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")  # retried_trial_number
def test_a_worker_killed_mid_trial_leaves_nothing_running(team_tracking, tuning_repo, tmp_path):
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    storage = fresh_database(team_tracking.tuning_storage, "optuna_killed")
    repos = machines(tuning_repo, tmp_path)
    logs = [tmp_path / f"worker-{n}.log" for n in (1, 2)]
    survivor = start_worker(repos[0], team_tracking.url, storage, logs[0])
    victim = start_worker(repos[1], team_tracking.url, storage, logs[1])
    # After its first epoch a trial has at least one more to go (three, or a prune after two).
    number = int(wait_for_line(logs[1], r"trial (\d+) epoch 1:", victim).group(1))
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    started = time.monotonic()
    output = finish(survivor, logs[0])
    print(f"the survivor finished the study {time.monotonic() - started:.1f}s after the kill")

    study = the_study(storage)
    assert len(finished(study)) == TUNE_TRIALS
    assert not [t.number for t in study.trials if t.state.name in ("RUNNING", "WAITING")]
    killed = study.trials[number]
    assert killed.state.name == "FAIL"
    (retry,) = [
        t
        for t in study.trials
        if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == number
    ]
    assert retry.state.name in ("COMPLETE", "PRUNED") and retry.params == killed.params
    assert f"trial {number}: its worker stopped writing heartbeats" in output

    # The killed worker's runs end KILLED (ended by the survivor), not RUNNING forever.
    client = mlflow.MlflowClient(tracking_uri=team_tracking.url)
    trial_run = client.get_run(killed.user_attrs["mlflow_run_id"])
    assert trial_run.info.status == "KILLED"
    assert trial_run.data.tags["state"] == "FAIL"
    assert "no heartbeat for 9s" in trial_run.data.tags["killed"]
    assert client.get_run(killed.user_attrs["mlflow_parent_run_id"]).info.status == "KILLED"
    # The earlier study of this name (another database) keeps its parents: this one has its own.
    runs = runs_in(team_tracking.url, **{f"tags.{STUDY_TAG}": study.study_name})
    own = {key.removeprefix(PARENT_ATTR) for key in study.user_attrs if key.startswith(PARENT_ATTR)}
    runs = runs[runs.run_id.isin(own)]
    assert sorted(runs.status) == ["FINISHED", "KILLED"]  # the survivor's parent, the victim's
