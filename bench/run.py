"""The benchmark, on the full dataset, in one run on one machine.

    python bench/run.py                  # everything: ~2 hours on a 2-core CPU
    python bench/run.py --skip-cold      # reuse the last cold run's clone
    python bench/run.py --skip-cold --seeds   # ... and its seed spread: time throughput again

1. cold pipeline: a fresh clone of HEAD, an empty DVC cache and MLflow store; each stage of
   `dvc repro` timed with its peak RSS, then the fully cached `dvc repro`;
2. accuracy at the project's defaults (from the cold run), with 95% bootstrap intervals;
3. seed spread: each recurrent default trained again with other seeds (the cold run is the
   first), on the same prepared data and split, scored on test: mean and std over seeds;
4. training throughput, the project's training path against the tutorials' way in one process
   on the same data: at the tutorial configuration against a plain `model.fit` on pre-padded
   numpy arrays (bench/reference.py), and at each tuned default against the same model fed
   reviews padded to the length cap;
5. the machine's float32 matmul rate and the fraction of it each training loop reaches;
6. serving latency and throughput (bench/serve_load.py) for the champion and tfidf;
7. a serving soak (bench/soak.py): 10,000 requests at 16 concurrent, one in ten malformed,
   against the champion and a recurrent model at 1 and 2 server workers.

Writes bench/results.json (the numbers and the settings they were measured at),
bench/soak.json (the soak's) and bench/RESULTS.md, rendered from those files alone;
`python bench/run.py --render-only` re-renders RESULTS.md from them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import yaml

from imdb_sentiment import markdown as md
from imdb_sentiment.files import atomic_path, read_json, write_json

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SOAK_JSON = BENCH / "soak.json"
PRETRAIN_JSON = BENCH / "pretrain.json"  # bench/pretrain.py's study
sys.path.insert(0, str(BENCH))

TUTORIAL = {"vocab_size": 10000, "max_len": 200, "embedding_dim": 128, "units": 64, "batch": 128}
# What the benchmark aims for: the mean test accuracy over seeds (gated models at or above the
# unigram tfidf), the training speedups at the tutorial configuration (1.08: what an exact
# unmasked path reached over the reference in bench/mask_cost.py) and at the defaults, and
# the cold pipeline's time, its evaluate stage's and the largest stage's peak memory.
TARGETS = {
    "test_accuracy_mean": {"bilstm": 0.895, "lstm": 0.895, "gru": 0.895, "simple_rnn": 0.86},
    "speedup": 1.08,
    "speedup_at_defaults": 4.0,
    "cold_total_seconds": 1200,
    "evaluate_seconds": 180,
    "peak_rss_mb": 3072,
}
CACHED_REPROS = 3  # fully cached `dvc repro` runs (the median counts)
# The serving load test (bench/serve_load.py): requests, their concurrency, reviews per batch.
SERVING = {
    "requests": 2000,
    "batch_requests": 200,
    "batch_size": 64,
    "concurrency": 8,
    "workers": 1,
}
GATES = {"simple_rnn": 1, "gru": 3, "lstm": 4, "bilstm": 4}
# One thread each, so that a ratio holds from run to run. With two inter-op threads (the
# default here, or set), TensorFlow's executor runs each fit either on both threads or
# inline on one, a coin toss per fit: 8 fits of one GRU in one process took turns between
# ~1,400 ex/s (1.8 cores busy) and ~800 ex/s (1.0 core), at intra/inter 1/2, 2/2, 2/4 and
# the defaults alike; at 1/1 every fit ran at 800-900 ex/s. The rates are one core's.
# Even at 1/1 some fits take ~5.1 s of wall time where others take 3-4 s, while the process
# spends the same CPU time in both (3.8 s of CPU in a 5.1 s fit, 0.73 cores busy, no other
# load, no steal in /proc/stat): the process is off the CPU, not working harder. So the
# ratios are taken on CPU time, and the wall-clock rates are kept beside them.
THREADS = {"intra_op": 1, "inter_op": 1}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_measured(command: list[str], cwd: Path, env: dict) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MB of the command and the processes it waited for, status)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=sys.stderr, stderr=sys.stderr)
    _, status, usage = os.wait4(process.pid, 0)
    return time.perf_counter() - started, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def bench_env() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    for name in ("MLFLOW_TRACKING_URI", "DVC_ROOT"):
        env.pop(name, None)
    return env


def cold_pipeline(clone: Path) -> dict:
    """Time every stage of a cold `dvc repro` in a fresh clone, then a cached one."""
    if clone.exists():
        shutil.rmtree(clone)
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    params = yaml.safe_load((clone / "params.yaml").read_text())
    local = [s for s in params["data"]["sources"] if not s["url"].startswith(("http:", "https:"))]
    if any(not (clone / s["url"]).exists() for s in local):
        for source in local:  # a clone elsewhere: pin the local sources to this checkout's
            source["url"] = str((ROOT / source["url"]).resolve())
        (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    stages = ["download", "prepare", *(f"train@{a}" for a in params["models"])]
    stages += [*(f"baseline@{b}" for b in params["baselines"]), "evaluate", "report"]
    commands = {stage: ["dvc", "repro", "--single-item", stage] for stage in stages}
    commands["promote"] = ["imdb_sentiment", "promote"]  # as `make run`: register, move `champion`
    env = bench_env()
    timings = {}
    for step, command in commands.items():
        log(f"cold: {step}")
        wall, rss, status = run_measured([sys.executable, "-m", *command], clone, env)
        if status:
            raise SystemExit(f"{step} failed (exit {status})")
        timings[step] = {"seconds": round(wall, 1), "peak_rss_mb": round(rss)}
    cached = []
    for _ in range(CACHED_REPROS):
        wall, _, status = run_measured([sys.executable, "-m", "dvc", "repro"], clone, env)
        cached.append(wall)
    return {
        "commit": _head(clone),
        "stages": timings,
        "total_seconds": round(sum(t["seconds"] for t in timings.values()), 1),
        "cached_repro_seconds": round(statistics.median(cached), 2),
        "cached_repro_runs": CACHED_REPROS,
        "max_stage_rss_mb": max(t["peak_rss_mb"] for t in timings.values()),
    }


def evaluation_of(clone: Path, name: str) -> dict:
    """The evaluate stage's detail JSON of model ``name``: reports/evaluation/NAME.json, or
    metrics/NAME.json in checkouts from before it moved there (the same keys)."""
    path = clone / "reports" / "evaluation" / f"{name}.json"
    if not path.exists():
        path = clone / "metrics" / f"{name}.json"
    return json.loads(path.read_text())


def test_reviews(clone: Path) -> int:
    """How many reviews the prepared test split holds."""
    import pandas as pd

    reviews = pd.read_parquet(clone / "data/prepared/reviews.parquet", columns=["split"])
    return int((reviews.split == "test").sum())


def accuracy_at_defaults(clone: Path) -> dict:
    params = yaml.safe_load((clone / "params.yaml").read_text())
    results = {}
    for name in [*params["models"], *params["baselines"]]:
        metrics = evaluation_of(clone, name)
        training = json.loads((clone / "models" / name / "training.json").read_text())
        results[name] = {
            "test_accuracy": metrics["test_accuracy"],
            "test_accuracy_ci_low": metrics["test_accuracy_ci_low"],
            "test_accuracy_ci_high": metrics["test_accuracy_ci_high"],
            "val_accuracy": metrics["val_accuracy"],
            "shuffled_test_accuracy": metrics["shuffled_test_accuracy"],
            "contrast_pair_accuracy": metrics["contrast_pair_accuracy"],
            "epochs_run": training.get("epochs_run"),
            "best_epoch": training.get("best_epoch"),
            "train_seconds": training["train_seconds"],
        }
    return results


def tutorial_data(clone: Path) -> tuple[np.ndarray, np.ndarray]:
    """Training split at the tutorial's vocab and length, through the project's text path."""
    import pandas as pd

    from imdb_sentiment.text import Vocabulary, encode_tokens, tokenize

    reviews = pd.read_parquet(clone / "data/prepared/reviews.parquet")
    train = reviews[reviews.split == "train"]
    tokens = [tokenize(text) for text in train.text]
    vocab = Vocabulary.build(tokens, TUTORIAL["vocab_size"])
    x = encode_tokens(tokens, vocab, TUTORIAL["max_len"], "pre")
    return x, train.label.to_numpy().astype(np.int32)


def tutorial_sample(
    clone: Path, reviews: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``reviews`` training reviews drawn with ``rng``, at the tutorial's vocab and length."""
    x_all, y_all = tutorial_data(clone)
    rows = rng.choice(len(x_all), size=min(reviews, len(x_all)), replace=False)
    return x_all[rows], y_all[rows]


def tutorial_spec(arch: str):  # -> ModelParams, imported late like everything TensorFlow
    """The project's model at the tutorial configuration: one layer, last state, dropout 0.3."""
    from imdb_sentiment.params import ModelParams

    return ModelParams(
        arch=arch,
        vocab_size=TUTORIAL["vocab_size"],
        embedding_dim=TUTORIAL["embedding_dim"],
        embedding_dropout=0.0,
        units=TUTORIAL["units"],
        layers=1,
        dropout=0.3,
        pooling="last",
        batch_size=TUTORIAL["batch"],
        learning_rate=1e-3,
        lr_schedule="constant",
    )


def padded_fit(  # model: a keras.Model (keras is imported after fix_threads)
    model, x: np.ndarray, y: np.ndarray, batch: int, epochs: int
) -> Callable[[], None]:
    """The tutorials' way: ``fit`` on fixed-length arrays in random batches. Warms up (traces
    the graph) now; the returned call is the one to time."""
    model.fit(x[: 4 * batch], y[: 4 * batch], batch_size=batch, verbose=0)
    return partial(model.fit, x, y, batch_size=batch, epochs=epochs, verbose=0)


def bucketed_fit(  # model: a keras.Model (keras is imported after fix_threads)
    model, x: np.ndarray, y: np.ndarray, batch: int, epochs: int
) -> Callable[[], None]:
    """The project's way: length-bucketed batches cut to their longest review. Warms up now;
    the returned call is the one to time."""
    from imdb_sentiment.training import make_dataset

    data, steps = make_dataset(x, y, batch, seed=0, epochs=epochs)
    model.fit(make_dataset(x[: 4 * batch], y[: 4 * batch], batch, seed=0)[0], verbose=0)
    return lambda: model.fit(data, steps_per_epoch=steps, epochs=epochs, verbose=0)


def matmul_gflops() -> float:
    import tensorflow as tf

    n = 2048
    a = tf.random.uniform((n, n), dtype=tf.float32)
    tf.linalg.matmul(a, a).numpy()
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        tf.linalg.matmul(a, a).numpy()
        runs.append(time.perf_counter() - started)
    return 2 * n**3 / min(runs) / 1e9


def seed_spread(clone: Path, seeds: list[int], models: dict) -> dict:
    """Each recurrent default trained with each of ``seeds`` (weights, dropout and batch order;
    the prepared data and validation split stay the cold run's), scored on test. The cold
    run's own seed is the first entry."""
    import keras
    import pandas as pd

    from imdb_sentiment.data import PreparedPaths
    from imdb_sentiment.evaluation import metric_intervals
    from imdb_sentiment.params import load_params
    from imdb_sentiment.serving import KerasPredictor
    from imdb_sentiment.text import Vocabulary

    params = load_params(clone / "params.yaml")
    prepared = PreparedPaths(clone / "data" / "prepared")
    config = json.loads(prepared.config.read_text())["prepare"]
    reviews = pd.read_parquet(prepared.reviews, columns=["split", "text", "label"])
    test = reviews[reviews.split == "test"]
    vocab = Vocabulary.load(prepared.vocab)
    results = {}
    for name, spec in params.models.items():
        runs = [{"seed": params.seed, "test_accuracy": models[name]["test_accuracy"]}]
        for seed in seeds:
            started = time.perf_counter()
            model, stopper = seed_model(params, prepared, name, seed)
            predictor = KerasPredictor(
                model,
                Vocabulary(vocab.tokens[: spec.vocab_size]),
                config["max_len"],
                config["truncating"],
            )
            probabilities = predictor.positive_probability(test.text.tolist())
            labels = test.label.to_numpy()
            accuracy = float(np.mean((probabilities >= 0.5) == labels))
            interval = metric_intervals(labels, probabilities, seed=params.seed)
            runs.append(
                {
                    "seed": seed,
                    "test_accuracy": accuracy,
                    "test_accuracy_ci_low": interval["test_accuracy_ci_low"],
                    "test_accuracy_ci_high": interval["test_accuracy_ci_high"],
                    "best_epoch": stopper.best_epoch + 1,
                    "seconds": round(time.perf_counter() - started, 1),
                }
            )
            log(f"seed {seed} {name}: test_accuracy {accuracy:.4f}")
            keras.backend.clear_session()
        accuracies = [r["test_accuracy"] for r in runs]
        results[name] = {
            "seeds": [r["seed"] for r in runs],
            "runs": runs,
            "test_accuracy_mean": round(float(np.mean(accuracies)), 6),
            "test_accuracy_std": round(float(np.std(accuracies, ddof=1)), 6),
        }
    return results


def seed_model(params, prepared, name: str, seed: int) -> tuple:  # (keras.Model, its stopper)
    """Model ``name`` of ``params`` trained with ``seed``, as `train@NAME` trains it."""
    from imdb_sentiment.training import SplitArrays, early_stopping, fit_model

    arrays = SplitArrays.load(prepared, params.models[name].vocab_size)
    stopper = early_stopping(params.train)
    model = fit_model(name, params.models[name], arrays, seed, params.train, stopper)
    return model, stopper


def flops_per_example(
    arch: str, embedding_dim: int, units: int, layers: int, steps: float
) -> float:
    """Training FLOPs of one review: the recurrent matmuls (2*gates*(input+H)*H per step,
    layer and direction), times 3 for forward + backward; embedding and dense are negligible."""
    directions = 2 if arch == "bilstm" else 1
    total, inputs = 0.0, embedding_dim
    for _ in range(layers):
        total += 2 * GATES[arch] * (inputs + units) * units * directions
        inputs = units * directions
    return 3 * total * steps


def rate_of(fit: Callable[[], None], examples: int) -> tuple[float, float]:
    """examples per second of one ``fit`` call: of this process's CPU time (all its threads;
    with THREADS at one each, one core's rate) and of wall time."""
    wall, cpu = time.perf_counter(), time.process_time()
    fit()
    return examples / (time.process_time() - cpu), examples / (time.perf_counter() - wall)


def compare_rates(
    reference_fit: Callable[[], None],
    project_fit: Callable[[], None],
    examples: int,
    repeats: int,
) -> dict[str, float]:
    """Median examples/s of each fit over ``repeats`` runs, A and B interleaved so that a slow
    spell of the machine falls on both: per CPU second (``reference``, ``project``, the ones
    the ratios use) and per wall second (``..._wall``)."""
    runs: dict[str, list[float]] = {
        "reference": [],
        "project": [],
        "reference_wall": [],
        "project_wall": [],
    }
    for _ in range(repeats):
        for side, fit in (("reference", reference_fit), ("project", project_fit)):
            cpu_rate, wall_rate = rate_of(fit, examples)
            runs[side].append(cpu_rate)
            runs[f"{side}_wall"].append(wall_rate)
    return {side: statistics.median(rates) for side, rates in runs.items()}


def throughput(clone: Path, epochs: int, repeats: int, reviews: int) -> dict:
    """examples/s of the project's training path against the plain reference, per architecture:
    at the tutorial configuration (``speedup``) and at each default (``speedup_at_defaults``).

    Both sides of a ratio run in this process, on the same seeded sample of ``reviews``
    training reviews, for ``epochs`` epochs, ``repeats`` times interleaved (the median counts),
    after a warm-up fit that traces the graphs.
    """
    import keras
    from reference import pre_pad, reference_model

    from imdb_sentiment.data import PreparedPaths
    from imdb_sentiment.models import build_model
    from imdb_sentiment.params import ARCHITECTURES, load_params
    from imdb_sentiment.training import SplitArrays, bucketed_batches, seed_everything

    def mean_steps(x: np.ndarray, batch: int) -> float:
        lengths = np.maximum((x != 0).sum(axis=1), 1)
        plan = bucketed_batches(lengths, batch, seed=0)
        return sum(int(lengths[rows].max()) * len(rows) for rows in plan) / len(x)

    rng = np.random.default_rng(0)
    x, y = tutorial_sample(clone, reviews, rng)
    x_pre = pre_pad(x)
    batch = TUTORIAL["batch"]
    results = {}
    for arch in ARCHITECTURES:
        seed_everything(0)
        reference = reference_model(
            arch,
            TUTORIAL["vocab_size"],
            TUTORIAL["max_len"],
            TUTORIAL["embedding_dim"],
            TUTORIAL["units"],
        )
        reference_fit = padded_fit(reference, x_pre, y, batch, epochs)
        ours = build_model(arch, tutorial_spec(arch), len(x) // batch + 1, epochs, seed=0)
        rates = compare_rates(
            reference_fit, bucketed_fit(ours, x, y, batch, epochs), len(x) * epochs, repeats
        )
        keras.backend.clear_session()
        shape = (TUTORIAL["embedding_dim"], TUTORIAL["units"], 1)
        results[arch] = {
            "reference_examples_per_second": round(rates["reference"], 1),
            "project_examples_per_second": round(rates["project"], 1),
            "speedup": round(rates["project"] / rates["reference"], 3),
            "reviews": int(len(x)),
            "reference_examples_per_wall_second": round(rates["reference_wall"], 1),
            "project_examples_per_wall_second": round(rates["project_wall"], 1),
            "speedup_wall": round(rates["project_wall"] / rates["reference_wall"], 3),
            "flops_per_example_reference": flops_per_example(arch, *shape, TUTORIAL["max_len"]),
            "flops_per_example_project": flops_per_example(arch, *shape, mean_steps(x, batch)),
        }
        log(f"throughput {arch} (tutorial configuration): {results[arch]}")

    # At the defaults: the same model fed two ways. The tutorials pad every review to the
    # length cap and batch at random; the project cuts length-bucketed batches to their
    # longest review. The reference side is the same masked model, so only the feeding differs.
    params = load_params(clone / "params.yaml")
    prepared = PreparedPaths(clone / "data" / "prepared")
    for name, spec in params.models.items():
        arrays = SplitArrays.load(prepared, spec.vocab_size)
        # A quarter of the tutorial sample: at the defaults, batches run to the length cap.
        size = min(reviews, len(arrays.x_train)) // 4
        sample = rng.choice(len(arrays.x_train), size=size, replace=False)
        x, y = arrays.x_train[sample], arrays.y_train[sample]
        seed_everything(0)
        padded = build_model(name, spec, len(x) // spec.batch_size + 1, epochs, seed=0)
        padded_side = padded_fit(padded, x, y, spec.batch_size, epochs)
        ours = build_model(name, spec, len(x) // spec.batch_size + 1, epochs, seed=0)
        rates = compare_rates(
            padded_side,
            bucketed_fit(ours, x, y, spec.batch_size, epochs),
            len(x) * epochs,
            repeats,
        )
        keras.backend.clear_session()
        shape = (spec.embedding_dim, spec.units, spec.layers)
        row = results.setdefault(name, {})
        row |= {
            "padded_to_cap_examples_per_second_at_defaults": round(rates["reference"], 1),
            "project_examples_per_second_at_defaults": round(rates["project"], 1),
            "speedup_at_defaults": round(rates["project"] / rates["reference"], 3),
            "speedup_at_defaults_wall": round(rates["project_wall"] / rates["reference_wall"], 3),
            "max_len": int(x.shape[1]),
            "reviews_at_defaults": int(len(x)),
            "flops_per_example_padded_at_defaults": flops_per_example(
                spec.arch, *shape, x.shape[1]
            ),
            "flops_per_example_project_at_defaults": flops_per_example(
                spec.arch, *shape, mean_steps(x, spec.batch_size)
            ),
        }
        log(f"throughput {name} (defaults): {row}")
    return results


def serving(clone: Path) -> list[dict]:
    import mlflow
    from serve_load import load_test

    os.chdir(clone)  # the clone's MLflow store is the default one there
    from imdb_sentiment.tracking import tracking_uri

    mlflow.set_tracking_uri(tracking_uri())
    import pandas as pd

    reviews = pd.read_parquet(clone / "data/prepared/reviews.parquet", columns=["split", "text"])
    reviews = reviews[reviews.split == "test"].text.tolist()
    tfidf_run = json.loads((clone / "models/tfidf/mlflow.json").read_text())["run_id"]
    settings = argparse.Namespace(**SERVING)
    return [
        {**load_test(uri, reviews, settings, cwd=clone), "settings": SERVING}
        for uri in ("models:/imdb-sentiment@champion", f"runs:/{tfidf_run}/model")
    ]


def soak(clone: Path) -> dict:
    """The serving soak against the clone's store and reviews; written to bench/soak.json."""
    from soak import parser, run_soak, write_json

    from imdb_sentiment.tracking import tracking_uri

    os.chdir(clone)  # as serving(): the clone's MLflow store is the default one there
    settings = parser().parse_args([])
    result = run_soak(tracking_uri(), clone / "data/prepared/reviews.parquet", settings, clone)
    write_json(SOAK_JSON, result)
    return result


def fix_threads() -> str:
    """TensorFlow's thread pools at THREADS, before anything runs on TensorFlow; returns the
    device it trains on ("gpu" or "cpu")."""
    from imdb_sentiment.runtime import import_tensorflow

    tf = import_tensorflow()
    tf.config.threading.set_intra_op_parallelism_threads(THREADS["intra_op"])
    tf.config.threading.set_inter_op_parallelism_threads(THREADS["inter_op"])
    return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--clone",
        type=Path,
        default=ROOT.parent / f"{ROOT.name}-bench",
        help="where the cold run clones HEAD (beside this checkout, so ../shared resolves)",
    )
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="measure nothing: re-render bench/RESULTS.md from bench/results.json",
    )
    parser.add_argument("--skip-cold", action="store_true", help="reuse the existing --clone")
    parser.add_argument("--skip-serving", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="*",
        default=[43, 44],
        help="training seeds besides params.yaml's (the cold run's); none: skip the spread "
        "(with --skip-cold: keep the last run's)",
    )
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per throughput run")
    parser.add_argument(
        "--repeats", type=int, default=3, help="throughput runs (the median counts)"
    )
    parser.add_argument(
        "--throughput-reviews",
        type=int,
        default=4096,
        help="training reviews per throughput run (a seeded sample; a quarter at the defaults)",
    )
    args = parser.parse_args()
    if args.render_only:
        write_rendered(read_json(BENCH / "results.json"))
        log(f"wrote {BENCH / 'RESULTS.md'} from {BENCH / 'results.json'}")
        return 0
    clone = args.clone.resolve()
    device = fix_threads()

    results: dict = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": {
            "cpu_cores": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "device": device,
        "commit": _head(ROOT),
        "targets": TARGETS,
    }

    def save() -> None:  # after each part, so a later failure loses nothing measured
        write_json(BENCH / "results.json", results)
        write_rendered(read_json(BENCH / "results.json"))

    previous = {}
    if not args.skip_cold:
        results["cold_pipeline"] = cold_pipeline(clone)
    elif (BENCH / "results.json").exists():
        previous = json.loads((BENCH / "results.json").read_text())
        # The accuracy, seed and serving numbers come from that clone: say which commit it is.
        results["cold_pipeline"] = {"commit": _head(clone)} | previous["cold_pipeline"]
    from imdb_sentiment.evaluation import CONFIDENCE, RESAMPLES

    results["models"] = accuracy_at_defaults(clone)
    results["test_reviews"] = test_reviews(clone)
    results["intervals"] = {"confidence": CONFIDENCE, "resamples": RESAMPLES}  # bootstrap
    save()
    if not args.seeds and "seed_spread" in previous:  # `--skip-cold --seeds`: keep the last spread
        results["seed_spread"] = previous["seed_spread"]
    elif args.seeds:
        results["seed_spread"] = seed_spread(clone, args.seeds, results["models"])
    if "seed_spread" in results:
        for name, spread in results["seed_spread"].items():
            results["models"][name].update(
                {k: spread[k] for k in ("seeds", "test_accuracy_mean", "test_accuracy_std")}
            )
        save()
    if args.skip_throughput:
        save()
        log(f"wrote {BENCH / 'results.json'} and {BENCH / 'RESULTS.md'} (no throughput)")
        return 0
    log("matmul peak")
    peak = matmul_gflops()
    results["throughput"] = throughput(clone, args.epochs, args.repeats, args.throughput_reviews)
    results["throughput_settings"] = {
        "epochs": args.epochs,
        "repeats": args.repeats,
        "reviews": args.throughput_reviews,
        "tutorial": TUTORIAL,
    }
    sides = {
        "reference": "reference_examples_per_second",
        "project": "project_examples_per_second",
        "padded_at_defaults": "padded_to_cap_examples_per_second_at_defaults",
        "project_at_defaults": "project_examples_per_second_at_defaults",
    }
    for row in results["throughput"].values():
        for side, rate in sides.items():
            if rate in row:
                achieved = row[f"flops_per_example_{side}"] * row[rate]
                row[f"fraction_of_matmul_peak_{side}"] = round(achieved / (peak * 1e9), 4)
    results["matmul_gflops_float32"] = round(peak, 1)
    results["tensorflow_threads"] = THREADS
    save()
    if not args.skip_serving:
        log("serving load test")
        results["serving"] = serving(clone)
        save()
        log("serving soak")
        soak(clone)
    save()
    log(f"wrote {BENCH / 'results.json'} and {BENCH / 'RESULTS.md'}")
    return 0


def _head(checkout: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=checkout, capture_output=True, text=True, check=True
    ).stdout.strip()


def write_rendered(results: dict, soak: dict | None = None, pretrain: dict | None = None) -> None:
    """bench/RESULTS.md rendered from ``results`` (what bench/results.json holds), the soak
    (bench/soak.json unless given) and the pretraining study (bench/pretrain.json unless
    given), atomically."""
    if soak is None and SOAK_JSON.exists():
        soak = read_json(SOAK_JSON)
    if pretrain is None and PRETRAIN_JSON.exists():
        pretrain = read_json(PRETRAIN_JSON)
    with atomic_path(BENCH / "RESULTS.md") as tmp:
        tmp.write_text(render(results, soak, pretrain))


def render(results: dict, soak: dict | None = None, pretrain: dict | None = None) -> str:
    """RESULTS.md from ``results``, ``soak`` and ``pretrain`` alone: every number, setting
    and target comes from them."""
    sections = [
        header_section(results),
        cold_run_section(results),
        accuracy_section(results),
        pretraining_section(pretrain),
        throughput_tutorial_section(results),
        throughput_defaults_section(results),
        *(serving_section(served) for served in results.get("serving", [])),
        soak_section(soak),
    ]
    return "\n\n".join(section for section in sections if section) + "\n"


def pretraining_section(study: dict | None) -> str:
    """The pretraining study (bench/pretrain.json): what the language model was and saw, then
    each classifier variant over seeds, and whether pretraining clears its bar."""
    if not study or not study.get("classifiers"):
        return ""
    settings, corpus = study["settings"], study["corpus"]
    phases = [(name, study[name]) for name in ("lm", "lm_target") if study.get(name)]
    seconds = sum(e["seconds"] for _, phase in phases for e in phase["epochs"])
    seconds += sum(run["seconds"] for run in study["classifiers"].values())
    lines = [
        "## Pretraining on the unlabeled reviews",
        "",
        f"`python bench/pretrain.py` at `{study['commit'][:10]}`: "
        f"{seconds / 3600:.1f} process-hours at {settings['threads']} thread(s). "
        f"A word-level language model (embedding {settings['embedding_dim']}, LSTM "
        f"{settings['units']}, vocabulary {corpus['vocab_size']:,}, tied output, sampled "
        f"softmax of {settings['sampled']}, {settings['segment']}-token segments) on the train "
        f"split plus {corpus['unlabeled_reviews']:,} unlabeled reviews "
        f"({corpus['lm_tokens']:,} tokens; validation and test text never reach it), then on "
        f"the train split's text alone ({corpus['target_tokens']:,} tokens).",
        "",
        md.rows(
            ["phase", "epoch", "sampled loss", "held-out loss", "held-out perplexity", "seconds"],
            (
                [
                    name,
                    e["epoch"],
                    e["sampled_loss"],
                    e["held_out_loss"],
                    e["held_out_perplexity"],
                    e["seconds"],
                ]
                for name, phase in phases
                for e in phase["epochs"]
            ),
        ),
        "",
        f"Classifiers: that embedding and LSTM, then last + max + mean pooling, dropout "
        f"{settings['dropout']}, a sigmoid; at most {settings['epochs']} epochs (early stopping "
        f"on val_loss, patience {settings['patience']}), warmup then cosine decay to a peak "
        f"rate of {settings['lr']}, on the project's training loop. `pretrained` starts from "
        f"the language model, each lower layer group {settings['lr_decay']}× slower, unfrozen "
        "one group per epoch (head, then LSTM, then embedding); `random` is its twin from "
        "random weights, every layer trained at the peak rate from the start. Validation "
        "decides; test is reported.",
        "",
    ]
    summary = study.get("summary", {})
    body = []
    for variant in ("pretrained", "random"):
        runs = {
            k.split("/")[1]: r
            for k, r in sorted(
                study["classifiers"].items(), key=lambda kv: int(kv[0].split("/")[1])
            )
            if k.startswith(f"{variant}/")
        }
        if not runs:
            continue
        row = summary.get(variant, {})
        body.append(
            [
                variant,
                len(runs),
                md.plus_minus(row["val_accuracy_mean"], row["val_accuracy_std"]) if row else "",
                md.plus_minus(row["test_accuracy_mean"], row["test_accuracy_std"]) if row else "",
                ", ".join(f"{seed}: {md.pct(r['val_accuracy'], 2)}" for seed, r in runs.items()),
                ", ".join(
                    f"{seed}: {r['best_epoch']}/{r['epochs_run']}" for seed, r in runs.items()
                ),
            ]
        )
    lines.append(
        md.rows(
            [
                "variant",
                "seeds",
                "val accuracy (mean ± std)",
                "test accuracy (mean ± std)",
                "val per seed",
                "best / run epochs per seed",
            ],
            body,
        )
    )
    if "val_gain" in summary:
        lines += [
            "",
            f"Pretraining gain on validation: {md.points(summary['val_gain'])} points, against "
            f"a bar of {md.points(summary['bar'], signed=False)} (twice the larger seed "
            f"spread): {'it pays' if summary['pays'] else 'it does not pay'} on this budget.",
        ]
    return "\n".join(lines)


def soak_section(soak: dict | None) -> str:
    """The soak (bench/soak.json): one row per server, then the answers per request kind."""
    if not soak:
        return ""
    lines = [
        "## Serving soak",
        "",
        f"`python bench/soak.py` at `{soak['commit'][:10]}`, {soak['date']}: "
        f"{soak['requests']:,} requests per server at {soak['concurrency']} concurrent, "
        f"every {soak['malformed_every']}th hostile (the kinds below, in turn). Targets: no 5xx, "
        "every good request and valid large one 200, every malformed one 4xx, /ping after.",
        "",
        "| model | workers | requests/s | good p50 ms | good p99 ms | 5xx or no answer "
        "| missed targets | peak RSS MB | RSS MB after warm-up → end | /ping after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in soak["runs"]:
        lines.append(
            f"| {run['model_name']} (`{run['model_uri']}`) | {run['workers']} | "
            f"{run['requests_per_second']} | {run['good_p50_ms']} | {run['good_p99_ms']} | "
            f"{run['server_errors']} | {run['missed_targets']} | {run['peak_rss_mb']:.0f} | "
            f"{run['rss_mb_after_warm_up']:.0f} → {run['rss_mb_at_end']:.0f} | "
            f"{'yes' if run['ping_after'] else '**no**'} |"
        )
    kinds = list(soak["runs"][0]["by_kind"]) if soak["runs"] else []
    header = [f"{r['model_name']}, -w {r['workers']}" for r in soak["runs"]]
    lines += [
        "",
        "Answers by status, per request kind:",
        "",
        "| kind | expected | " + " | ".join(header) + " |",
        "|---|---|" + "---|" * len(header),
    ]
    for kind in kinds:
        cells = [
            ", ".join(f"{n} × {s}" for s, n in run["by_kind"][kind]["statuses"].items()) or "-"
            for run in soak["runs"]
        ]
        expected = soak["runs"][0]["by_kind"][kind]["expected"]
        lines.append(f"| {kind} | {expected} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def header_section(results: dict) -> str:
    machine = results["machine"]
    cold_commit = results.get("cold_pipeline", {}).get("commit", results["commit"])
    reused = (
        f" (the cold run, accuracy, seeds and serving: its clone of `{cold_commit[:10]}`)"
        if cold_commit != results["commit"]
        else ""
    )
    device = "no GPU" if results.get("device") == "cpu" else f"device {results.get('device')}"
    return (
        f"# Benchmark results\n\n{results['date']}, commit `{results['commit'][:10]}`{reused}, "
        f"{machine['cpu_cores']} CPU cores ({machine['processor']}), Python {machine['python']}, "
        f"{device}. Produced by `python bench/run.py`."
    )


def cold_run_section(results: dict) -> str:
    cold = results.get("cold_pipeline", {})
    if "stages" not in cold:
        return ""
    body = [[stage, t["seconds"], t["peak_rss_mb"]] for stage, t in cold["stages"].items()]
    body.append(
        [
            "**total**",
            f"**{cold['total_seconds']}** ({cold['total_seconds'] / 60:.1f} min)",
            f"max {cold['max_stage_rss_mb']}",
        ]
    )
    runs = cold.get("cached_repro_runs")
    median = f" (median of {runs})" if runs else ""
    lines = [
        "## Cold `dvc repro` (empty cache)",
        "",
        md.rows(["stage", "wall s", "peak RSS MB"], body),
        "",
        f"Fully cached `dvc repro`{median}: **{cold['cached_repro_seconds']} s**.",
    ]
    targets = results.get("targets", {})
    measured = {
        "cold_total_seconds": ("total", cold["total_seconds"], "s"),
        "evaluate_seconds": ("evaluate", cold["stages"].get("evaluate", {}).get("seconds"), "s"),
        "peak_rss_mb": ("the largest stage's peak RSS", cold["max_stage_rss_mb"], "MB"),
    }
    checks = [
        f"{label} {value} {unit} (target ≤ {targets[key]} {unit}"
        f"{' ✓' if value <= targets[key] else ' ✗'})"
        for key, (label, value, unit) in measured.items()
        if key in targets and value is not None
    ]
    if checks:
        lines += ["", "Targets: " + "; ".join(checks) + "."]
    return "\n".join(lines)


def accuracy_section(results: dict) -> str:
    targets = results.get("targets", {}).get("test_accuracy_mean", {})
    intervals = results.get("intervals", {})
    level = f"{100 * intervals['confidence']:.0f}% " if "confidence" in intervals else ""
    size = f", {results['test_reviews']:,} reviews" if "test_reviews" in results else ""
    body = []
    for name, m in results["models"].items():
        target, mean = targets.get(name), m.get("test_accuracy_mean")
        mark = "" if target is None or mean is None else (" ✓" if mean >= target else " ✗")
        spread = (
            ""
            if mean is None
            else f"{md.plus_minus(mean, m['test_accuracy_std'])} ({len(m['seeds'])} seeds){mark}"
        )
        body.append(
            [
                name,
                f"{md.pct(m['test_accuracy'], 2)} "
                f"{md.interval(m['test_accuracy_ci_low'], m['test_accuracy_ci_high'])}",
                spread,
                "" if target is None else md.pct(target),
                md.pct(m["val_accuracy"], 2),
                md.pct(m["shuffled_test_accuracy"], 2),
                md.pct(m["contrast_pair_accuracy"]),
                m["epochs_run"] or "",
                m["best_epoch"] or "",
                f"{m['train_seconds']:.0f}",
            ]
        )
    header = [
        f"test acc [{level}CI]",
        "seeds: mean ± std",
        "target (seeds' mean)",
        "val acc",
        "shuffled acc",
        "minimal pairs",
        "epochs run",
        "best epoch",
        "train s",
    ]
    lines = [f"## Accuracy at the defaults (test set{size})", ""]
    if intervals:
        lines += [
            f"Intervals: {level}bootstrap over the test reviews, {intervals['resamples']:,} "
            "resamples.",
            "",
        ]
    lines.append(md.rows(["model", *header], body))
    if "throughput" not in results:
        lines += ["", "Training throughput was not measured in this run (`--skip-throughput`)."]
    return "\n".join(lines)


def throughput_tutorial_section(results: dict) -> str:
    rows = {arch: t for arch, t in results.get("throughput", {}).items() if "speedup" in t}
    if not rows:
        return ""
    settings = results.get("throughput_settings", {})
    threads = results.get("tensorflow_threads", {})
    tutorial = settings.get("tutorial", {})
    target = md.ratio(results.get("targets", {}).get("speedup"))
    body = [
        [
            arch,
            t.get("reviews", ""),
            f"{t['reference_examples_per_second']:.0f}",
            f"{t['project_examples_per_second']:.0f}",
            md.ratio(t["speedup"]),
            target,
            md.ratio(t.get("speedup_wall")),
            md.pct(t["fraction_of_matmul_peak_reference"]),
            md.pct(t["fraction_of_matmul_peak_project"]),
        ]
        for arch, t in rows.items()
    ]
    header = ["arch", "reviews", "reference ex/s", "project ex/s", "speedup", "target"]
    header += ["speedup, wall clock", "reference % of peak", "project % of peak"]
    config = ", ".join(f"{key} {value}" for key, value in tutorial.items())
    return "\n".join(
        [
            "## Training throughput",
            "",
            f"Each ratio: both sides in one process on the same seeded sample of training "
            f"reviews, {settings.get('epochs')} epochs per run after a warm-up, "
            f"{settings.get('repeats')} runs interleaved (the median counts), TensorFlow "
            f"threads intra-op {threads.get('intra_op')}, inter-op {threads.get('inter_op')}. "
            "Rates are examples per second of the process's CPU time; the ratio of wall-clock "
            f"rates is beside each. Measured float32 matmul peak: "
            f"**{results['matmul_gflops_float32']} GFLOP/s**.",
            "",
            f"**`speedup`, at the tutorial configuration** ({config}). Reference: `model.fit` "
            "on pre-padded arrays, no mask. Project: right padding handled exactly without a "
            "Keras mask, length-bucketed batches cut to their longest review.",
            "",
            md.rows(header, body),
        ]
    )


def throughput_defaults_section(results: dict) -> str:
    rows = {
        name: t for name, t in results.get("throughput", {}).items() if "speedup_at_defaults" in t
    }
    if not rows:
        return ""
    target = md.ratio(results.get("targets", {}).get("speedup_at_defaults"))
    body = [
        [
            name,
            t.get("reviews_at_defaults", ""),
            t["max_len"],
            f"{t['padded_to_cap_examples_per_second_at_defaults']:.0f}",
            f"{t['project_examples_per_second_at_defaults']:.0f}",
            md.ratio(t["speedup_at_defaults"]),
            target,
            md.ratio(t.get("speedup_at_defaults_wall")),
            md.pct(t["fraction_of_matmul_peak_padded_at_defaults"]),
            md.pct(t["fraction_of_matmul_peak_project_at_defaults"]),
        ]
        for name, t in rows.items()
    ]
    header = ["model", "reviews", "length cap", "padded ex/s", "project ex/s"]
    header += ["speedup_at_defaults", "target", "wall clock", "padded % of peak"]
    header += ["project % of peak"]
    return "\n".join(
        [
            "**`speedup_at_defaults`, at each model's defaults**: the same model fed every "
            "review padded to the length cap in random batches, against length-bucketed "
            "batches.",
            "",
            md.rows(header, body),
        ]
    )


def serving_section(served: dict) -> str:
    """One served model's load test (bench/serve_load.py)."""
    batch_key = next(key for key in served if key.startswith("batch_of_"))
    single, batch = served["single_review"], served[batch_key]
    size = served.get("settings", {}).get("batch_size", batch_key.removeprefix("batch_of_"))
    return (
        f"## Serving: `{served['model_uri']}`\n\n"
        f"{single['requests']} single-review requests at {single['concurrency']} concurrent: "
        f"p50 {single['p50_ms']} ms, p95 {single['p95_ms']} ms, p99 {single['p99_ms']} ms, "
        f"{single['requests_per_second']} requests/s, {single['errors']} errors. "
        f"{batch['requests']} requests of {size} reviews at {batch['concurrency']} concurrent: "
        f"{batch['reviews_per_second']} reviews/s (p50 {batch['p50_ms']} ms), "
        f"{batch['errors']} errors."
    )


if __name__ == "__main__":
    sys.exit(main())
