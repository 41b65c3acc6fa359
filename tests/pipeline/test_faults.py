"""Faults a user meets, each on the real tools: a corrupt checkpoint, a killed score stage, a
tracking server that goes away mid-training, and two `dvc repro` in one workspace."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import mlflow
import pandas as pd
import psutil
import pytest
import yaml
from conftest import dvc, edit_params, own_copy, postgres_folder, runs_in

from imdb_sentiment.files import atomic_outputs, write_json
from imdb_sentiment.paths import HEADLINE_FILES, CorpusPaths
from imdb_sentiment.tracking.services import free_port
from imdb_sentiment.tracking.team_server import tracking_server

OUTAGE_SECONDS = 30
COMPARE_PARTIAL = ".compare.partial"  # files.atomic_outputs' staging folder for `compare`
SCORE_PARTIAL = ".score-gru.partial"  # ... and score@imdb-gru's
GRU_SCORES = Path("scores/imdb/neural/gru")


def start_stage(repo: Path, env: dict, stderr: int, stage: str) -> subprocess.Popen:
    """`dvc repro` of one stage alone, in a session of its own (to kill as a group)."""
    return subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro", "--force", "--single-item", stage],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        start_new_session=True,
    )


def wait_for(condition, process: subprocess.Popen, timeout: float, what: str) -> None:
    """Poll ``condition`` every 10 ms while ``process`` runs; fail if it never holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            raise AssertionError(f"exited ({process.returncode}) before {what}")
        time.sleep(0.01)
    raise AssertionError(f"no {what} within {timeout:.0f}s")


def test_compare_outputs_are_the_ones_dvc_yaml_declares():
    # atomic_outputs publishes exactly these; an output missing here would be left behind by
    # a killed run (or never appear).
    # Each corpus's compare@CORPUS and report@CORPUS (DVC's foreach puts the corpus for ${key}).
    stages = yaml.safe_load(Path("dvc.yaml").read_text())["stages"]
    stage, report = stages["compare"]["do"], stages["report"]["do"]
    declared = {next(iter(o)) if isinstance(o, dict) else o for o in stage["outs"]}
    declared |= {next(iter(m)) if isinstance(m, dict) else m for m in stage["metrics"]}
    declared |= {next(iter(p)) if isinstance(p, dict) else p for p in stage["plots"]}
    rendered = {next(iter(o)) if isinstance(o, dict) else o for o in report["outs"]}
    for corpus in ("imdb", "sst2"):
        outputs = CorpusPaths(corpus).outputs
        named = {path.replace("${key}", corpus) for path in declared}
        assert {str(p) for p in outputs.declared()} == named
        assert {str(p) for p in outputs.rendered()} == {
            p.replace("${key}", corpus) for p in rendered
        }


def test_staged_outputs_replace_all_at_once_or_none(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_json("metrics/old.json", {"old": 1})
    Path(".evaluate.partial/metrics").mkdir(parents=True)  # what a killed run leaves
    with pytest.raises(RuntimeError), atomic_outputs(["metrics", "report.md"], "evaluate") as s:
        write_json(s / "metrics" / "new.json", {"new": 1})
        raise RuntimeError("killed half-way")
    assert [p.name for p in Path("metrics").iterdir()] == ["old.json"]
    assert not Path("report.md").exists()
    with atomic_outputs(["metrics", "report.md"], "evaluate") as staging:
        write_json(staging / "metrics" / "new.json", {"new": 1})
        (staging / "report.md").write_text("# report\n")
    assert [p.name for p in Path("metrics").iterdir()] == ["new.json"]  # the run's set only
    assert Path("report.md").read_text() == "# report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics", "report.md"]


@pytest.mark.slow
def test_a_corrupt_checkpoint_is_named_in_one_line_and_training_starts_afresh(prepared, tmp_path):
    repo, env = own_copy(prepared, tmp_path)
    edit_params(repo, train={"epochs": 10, "patience": 10})  # the kill lands mid-training
    checkpoint = repo / "checkpoints" / "imdb" / "simple_rnn"
    command = [sys.executable, "stages/train.py", "imdb", "simple_rnn"]
    killed = subprocess.Popen(command, cwd=repo, env=env, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: (checkpoint / "state.json").exists(), killed, 300, "checkpoint")
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
    state = json.loads((checkpoint / "state.json").read_text())
    assert 1 <= state["epochs_done"] < 10, "the kill did not land mid-training"
    keras_file = checkpoint / "last.keras"
    keras_file.write_bytes(keras_file.read_bytes()[: keras_file.stat().st_size // 2])

    result = dvc(repo, env, "repro", "--single-item", "train@imdb-simple_rnn")
    said = [line for line in result.stderr.splitlines() if "unreadable" in line]
    assert len(said) == 1, result.stderr
    assert "checkpoint checkpoints/imdb/simple_rnn/last.keras is unreadable" in said[0]
    assert said[0].endswith("starting afresh")
    assert "Traceback" not in result.stderr
    assert "resuming" not in result.stderr
    assert not checkpoint.exists()
    history = pd.read_csv(repo / "models/imdb/simple_rnn/history.csv")
    assert history.epoch.tolist() == list(range(1, 11))
    client = mlflow.MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    run_id = json.loads((repo / "models/imdb/simple_rnn/mlflow.json").read_text())["run_id"]
    assert run_id != state["run_id"]  # a new run: the old one's epochs are not mixed in
    assert client.get_run(run_id).info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == list(range(10))

    # Afresh means afresh: the same numbers as a run that never met a checkpoint.
    fresh = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert fresh.returncode == 0, fresh.stderr
    reference = pd.read_csv(repo / "models/imdb/simple_rnn/history.csv")
    curves = ["loss", "accuracy", "val_loss", "val_accuracy"]
    pd.testing.assert_frame_equal(history[curves], reference[curves], check_exact=True)


def compare_outputs(repo: Path) -> dict[str, bool]:
    return {str(p): (repo / p).exists() for p in CorpusPaths("imdb").outputs.declared()}


@pytest.mark.slow
@pytest.mark.parametrize("victim", ["stage", "dvc and stage"])
def test_a_killed_score_stage_leaves_none_of_its_outputs_and_the_next_repro_completes(
    pipeline, tmp_path, victim
):
    repo, env = own_copy(pipeline, tmp_path)
    partial = repo / SCORE_PARTIAL
    running = start_stage(repo, env, subprocess.PIPE, "score@imdb-gru")

    def stage() -> psutil.Process | None:
        # The Python process itself: its argv has the script as an element. The shell DVC
        # may start it through (`sh -c "python stages/score.py gru"`) has it inside one
        # string; killing that shell would leave the stage running as an orphan.
        with contextlib.suppress(psutil.Error):  # dvc or a child may be gone by now
            for child in psutil.Process(running.pid).children(recursive=True):
                if "stages/score.py" in child.cmdline():
                    return child
        return None

    def writing() -> bool:
        # Once the stage runs DVC has removed the old outputs: any file now is a new one.
        return stage() is not None and any(p.is_file() for p in partial.rglob("*"))

    try:
        wait_for(writing, running, 300, "score output")
        if victim == "stage":  # what the OOM killer does: the stage goes, dvc sees it go
            stage().send_signal(signal.SIGKILL)
        else:  # kill -9 of the whole job, as a lost machine or a killed session does
            os.killpg(running.pid, signal.SIGKILL)
        stdout, stderr = running.communicate(timeout=60)
    finally:
        if running.poll() is None:
            os.killpg(running.pid, signal.SIGKILL)
    assert running.returncode != 0
    print(f"killed {victim}; dvc said:\n{stdout}{stderr}")
    if victim == "stage":
        assert "failed to reproduce 'score@imdb-gru'" in stderr

    assert not (repo / GRU_SCORES).exists(), "half a score folder"
    leftovers = [p for p in (repo / "scores" / "imdb").rglob(".*") if p.name != ".gitignore"]
    assert not leftovers, f"temp files left in scores/: {leftovers}"
    ignored = subprocess.run(
        ["git", "status", "--porcelain", "--", SCORE_PARTIAL],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert ignored == ""  # the killed run's staging folder is ignored, and the next clears it

    again = dvc(repo, env, "repro")
    print(f"next dvc repro:\n{again.stdout}{again.stderr}")
    # The folder is DVC-cached: the next repro restores the last complete one (or re-scores).
    assert sorted(p.name for p in (repo / GRU_SCORES).iterdir()) == [
        "confusion.csv",
        "metrics.json",
        "roc.csv",
        "scores.npz",
    ]
    assert all(compare_outputs(repo).values())
    assert sorted(p.stem for p in (repo / "metrics" / "imdb").glob("*.json")) == sorted(
        HEADLINE_FILES
    )
    assert "up to date" in dvc(repo, env, "status").stdout
    # The killed run's staging folder (ignored by git) goes when score@imdb-gru next runs.
    dvc(repo, env, "repro", "--force", "--single-item", "score@imdb-gru")
    assert not partial.exists()


@pytest.fixture
def team_server_folder() -> Iterator[Path]:
    """A folder for a tracking server this test stops and starts itself (test_team.py's
    server is shared by its module, so stopping it would break the tests there)."""
    folder = postgres_folder("imdb-outage-")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_a_tracking_server_outage_mid_training_loses_no_epoch(
    prepared, tmp_path, team_server_folder
):
    repo, _ = own_copy(prepared, tmp_path)
    epochs = 6
    edit_params(repo, train={"epochs": epochs, "patience": epochs})
    port, postgres_port = free_port(), free_port()
    log_path = tmp_path / "train.log"
    with ExitStack() as server:
        url = server.enter_context(
            tracking_server(team_server_folder, port, postgres_port=postgres_port, workers=1)
        ).url
        env = {**prepared[1], "MLFLOW_TRACKING_URI": url}
        with log_path.open("w") as log:
            training = subprocess.Popen(
                [sys.executable, "stages/train.py", "imdb", "simple_rnn"],
                cwd=repo,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for(lambda: "epoch 1/" in log_path.read_text(), training, 300, "first epoch")
            # Paused while the server stops (a second or two), so the outage surely starts
            # before the next epoch's metrics are logged, however fast a tiny epoch is.
            training.send_signal(signal.SIGSTOP)
            server.close()  # the mlflow server and its PostgreSQL, both stopped
        finally:
            training.send_signal(signal.SIGCONT)
    try:
        down = time.monotonic()
        while time.monotonic() - down < OUTAGE_SECONDS:
            assert training.poll() is None, log_path.read_text()
            time.sleep(0.5)
        during = log_path.read_text()
        assert "epoch 2/" not in during, "epoch 2 went by while its logging had nowhere to go"
        with tracking_server(team_server_folder, port, postgres_port=postgres_port, workers=1):
            training.wait(timeout=600)
            output = log_path.read_text()
            print(output)
            assert training.returncode == 0, output
            assert f"epoch {epochs}/{epochs}" in output
            assert "Retrying" in during  # MLflow's client retried through the outage
            (run,) = runs_in(url).itertuples()
            assert run.status == "FINISHED"
            client = mlflow.MlflowClient(tracking_uri=url)
            for metric in ("loss", "accuracy", "val_loss", "val_accuracy"):
                steps = [m.step for m in client.get_metric_history(run.run_id, metric)]
                assert sorted(steps) == list(range(epochs)), metric
    finally:
        if training.poll() is None:
            training.kill()
            training.wait(timeout=30)


@pytest.mark.slow
def test_a_second_dvc_repro_in_the_same_workspace_is_refused_and_the_first_completes(
    pipeline, tmp_path
):
    repo, env = own_copy(pipeline, tmp_path)
    first = start_stage(repo, env, subprocess.STDOUT, "compare")
    try:
        wait_for(
            lambda: any(p.is_file() for p in (repo / COMPARE_PARTIAL).rglob("*")),
            first,
            300,
            "compare at work",
        )
        # Held still while the second tries: on a busy machine a tiny compare could
        # otherwise finish before the second `dvc repro` has even started.
        os.killpg(first.pid, signal.SIGSTOP)
        started = time.monotonic()
        second = dvc(repo, env, "repro", check=False)
        refused_in = time.monotonic() - started
        os.killpg(first.pid, signal.SIGCONT)
        assert first.poll() is None, "the first finished before the second was refused"
        output, _ = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    print(f"second dvc repro ({refused_in:.1f}s):\n{second.stdout}{second.stderr}")
    assert second.returncode != 0
    errors = [line for line in second.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1, second.stderr
    assert "Running stage" not in second.stdout
    assert first.returncode == 0, output
    assert all(compare_outputs(repo).values())
    assert "up to date" in dvc(repo, env, "status").stdout
