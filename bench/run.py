"""The benchmark, on the full dataset, in one run on one machine.

    python -m bench.run                  # everything: ~2 hours on a 2-core CPU
    python -m bench.run --skip-cold      # reuse the last cold run's clone
    python -m bench.run --skip-cold --seeds   # ... and its seed spread: time throughput again
    python -m bench.run --skip-cold --corpora sst2   # ... measure SST-2's seed spread alone
    python -m bench.run --skip-cold --seeds --sentences   # ... and SST-2 on its sentences alone

1. cold pipeline (bench/pipeline.py): a fresh clone of HEAD, an empty DVC cache and MLflow
   store; each stage of `dvc repro` timed with its peak RSS, then the fully cached `dvc repro`;
2. accuracy at the project's defaults (from the cold run), with 95% bootstrap intervals, for
   each corpus of the clone's params.yaml (bench/corpora.py: the shape they are saved in);
3. seed spread, per corpus: its best recurrent model (by validation; or --seed-models) trained
   again with other seeds (the cold run is the first), on the same prepared data and split,
   scored on test and on top of the best bag: mean and std over seeds; with --sentences,
   SST-2's pipeline trained again on its training sentences alone, beside the clone's run on
   every phrase (bench/phrases.py: a temporary DVC experiment);
4. training throughput, the project's training path against the tutorials' way in one process
   on the same data: at the tutorial configuration against a plain `model.fit` on pre-padded
   numpy arrays (bench/reference.py), and at each tuned default against the same model fed
   reviews padded to the length cap (bench/throughput.py);
5. the machine's float32 matmul rate and the fraction of it each training loop reaches;
6. serving latency and throughput (bench/serve_load.py) for the champion and tfidf;
7. a serving soak (bench/soak.py): 10,000 requests at 16 concurrent, one in ten malformed,
   against the champion and a recurrent model at 1 and 2 server workers.

Writes bench/results.json (the numbers and the settings they were measured at),
bench/soak.json (the soak's) and bench/RESULTS.md, rendered from those files alone
(bench/render.py); `python -m bench.run --render-only` re-renders RESULTS.md from them.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import time
from pathlib import Path

from bench import RESULTS_JSON, RESULTS_MD, ROOT, SOAK_JSON, soak
from bench.corpora import SENTENCES, VECTORS, WORDS_EQUAL, per_corpus
from bench.phrases import CORPUS as PHRASE_CORPUS
from bench.phrases import train_on_sentences
from bench.pipeline import (
    accuracy_at_defaults,
    cold_pipeline,
    evaluation_of,
    rescore,
    seed_spread,
    test_texts,
    what_vectors_buy,
)
from bench.render import write_rendered
from bench.serve_load import SETTINGS, load_test
from bench.throughput import (
    THREADS,
    TUTORIAL,
    add_peak_fractions,
    fix_threads,
    matmul_gflops,
    throughput,
)
from imdb_sentiment.data.prepare import PreparedPaths
from imdb_sentiment.files import read_json, write_json
from imdb_sentiment.params import load_params_file
from imdb_sentiment.paths import CorpusPaths
from imdb_sentiment.tracking.runs import git_commit

log = logging.getLogger(__name__)

# What the benchmark aims for: the training speedups at the tutorial configuration (1.08: what
# an exact path without a mask reached over the reference in bench/mask_cost.py) and at the
# defaults; the cold pipeline's time (at most 2 minutes over the single-evaluate pipeline's
# 1,853 s), its scoring (every score stage and compare; `evaluate` took 545 s), everything but
# training, the largest stage's peak memory. Per corpus, on its test set: IMDB's mean test
# accuracy over seeds (gated models at or above the unigram tfidf), the best bag's and the
# champion's; SST-2's (from its issue) the best bag's, the best recurrent model's at its tuned
# defaults (the cold run's) and the champion's.
TARGETS = {
    "speedup": 1.08,
    "speedup_at_defaults": 4.0,
    "cold_total_seconds": 1973,
    "scoring_seconds": 180,
    "outside_training_seconds": 300,
    "peak_rss_mb": 2200,
    "corpora": {
        "imdb": {
            "test_accuracy_mean": {
                "bilstm": 0.895,
                "lstm": 0.895,
                "gru": 0.895,
                "simple_rnn": 0.86,
            },
            "best_bag_test_accuracy": 0.915,
            "champion_test_accuracy": 0.926,
        },
        # With the word vectors (issue 37's targets; the corpus issue's were 0.845 and 0.855).
        "sst2": {
            "best_bag_test_accuracy": 0.830,
            "best_recurrent_test_accuracy": 0.860,
            "champion_test_accuracy": 0.870,
        },
    },
}


# What training_speed measures: carried over as a whole by a run with --skip-throughput.
THROUGHPUT_KEYS = (
    "throughput",
    "throughput_settings",
    "matmul_gflops_float32",
    "tensorflow_threads",
)


def parser() -> argparse.ArgumentParser:
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
    parser.add_argument(
        "--rescore",
        action="store_true",
        help="with --skip-cold: move the clone to HEAD and time every stage after training "
        "again (HEAD's training code must be the cold run's)",
    )
    parser.add_argument(
        "--skip-serving",
        action="store_true",
        help="no load test or soak: carry the last run's serving numbers, with their commit",
    )
    parser.add_argument(
        "--skip-soak", action="store_true", help="the load test only: keep bench/soak.json"
    )
    parser.add_argument(
        "--skip-throughput", action="store_true", help="do not measure training throughput"
    )
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="*",
        default=[43, 44],
        help="training seeds besides params.yaml's (the cold run's); none: carry the last "
        "run's spread over, with its commit",
    )
    parser.add_argument(
        "--seed-models",
        nargs="*",
        default=None,
        help="the neural models the seed spread trains, in each corpus that has them "
        "(default: each corpus's best recurrent model by validation and the neural bag the "
        "answer sets against it; no names: every one)",
    )
    parser.add_argument(
        "--corpora",
        nargs="+",
        default=None,
        help="the corpora whose seed spread is measured (default: every one of the clone's); "
        "the others' is carried over from the last run, with its commit",
    )
    parser.add_argument(
        "--sentences",
        action="store_true",
        help="train SST-2's pipeline again on its training sentences alone, as a temporary "
        "DVC experiment beside the clone's run on every phrase; without it, the last run's "
        "comparison is carried over, with its commit",
    )
    parser.add_argument(
        "--vectors",
        action="store_true",
        help="train each corpus's best recurrent model and neural bag again with the other "
        "embedding_init, to measure what the word vectors buy each; without it, the last "
        "run's numbers are carried over, with their commit",
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(message)s", datefmt="%H:%M:%S")
    if args.render_only:
        write_rendered(read_json(RESULTS_JSON))
        log.info("wrote %s from %s", RESULTS_MD, RESULTS_JSON)
        return 0
    clone = args.clone.resolve()
    previous_results = read_json(RESULTS_JSON) if RESULTS_JSON.exists() else {}
    results: dict = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": {
            "cpu_cores": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "device": fix_threads(),
        "commit": git_commit(ROOT),
        "targets": TARGETS,
    }
    accuracy(results, clone, args, previous_results)
    sentences_alone(results, clone, args, previous_results)
    vectors_bought(results, clone, args, previous_results)
    if not args.skip_throughput:
        training_speed(results, clone, args)
    elif "throughput" in previous_results:  # carried over, with the commit it was measured at
        results |= {
            key: previous_results[key] for key in THROUGHPUT_KEYS if key in previous_results
        }
        results["throughput_commit"] = previous_results.get(
            "throughput_commit", previous_results["commit"]
        )
    if args.skip_serving and "serving" in previous_results:  # carried over, as throughput
        results["serving"] = previous_results["serving"]
        results["serving_commit"] = previous_results.get(
            "serving_commit", previous_results["commit"]
        )
    if not args.skip_serving:
        log.info("serving load test")
        results["serving"] = serving(clone)
        save(results)
        if not args.skip_soak:
            log.info("serving soak")
            serving_soak(clone)
    save(results)
    log.info("wrote %s and %s", RESULTS_JSON, RESULTS_MD)
    return 0


def save(results: dict) -> None:
    """bench/results.json and RESULTS.md, after each part: a later failure loses nothing."""
    write_json(RESULTS_JSON, results)
    write_rendered(read_json(RESULTS_JSON))


def accuracy(results: dict, clone: Path, args: argparse.Namespace, previous: dict) -> None:
    """The cold run (or, with --skip-cold, the last one's clone), the accuracy it reached on
    each corpus and the seed spreads, into ``results``; ``previous``, the last run's results,
    lends a seed spread not measured again."""
    from imdb_sentiment.evaluation.intervals import CONFIDENCE, RESAMPLES

    if not args.skip_cold:
        results["cold_pipeline"] = cold_pipeline(clone)
        # The machine's own speed beside its times, so a reader can scale them.
        results["cold_pipeline"]["matmul_gflops_float32"] = round(matmul_gflops(), 1)
    elif previous:
        # The accuracy, seed and serving numbers come from that clone: say which commit it is.
        results["cold_pipeline"] = {"commit": git_commit(clone)} | previous["cold_pipeline"]
        if args.rescore:
            results["cold_pipeline"] = rescore(clone, previous["cold_pipeline"])
            results["cold_pipeline"]["matmul_gflops_float32"] = round(matmul_gflops(), 1)
    corpora = list(load_params_file(clone / "params.yaml").corpora)
    unknown = sorted(set(args.corpora or []) - set(corpora))
    if unknown:
        raise SystemExit(f"--corpora {' '.join(unknown)}: the clone's corpora are {corpora}")
    results["intervals"] = {"confidence": CONFIDENCE, "resamples": RESAMPLES}  # bootstrap
    results["corpora"] = {corpus: measured_accuracy(clone, corpus) for corpus in corpora}
    save(results)
    previous = per_corpus(previous) if previous else {}
    for corpus, part in results["corpora"].items():
        measure = bool(args.seeds) and (args.corpora is None or corpus in args.corpora)
        spread = corpus_seed_spread(clone, corpus, part, args, previous, measure)
        if not spread:
            continue
        words = spread.pop(WORDS_EQUAL, None)
        if words:
            part[WORDS_EQUAL] = words
        elif WORDS_EQUAL in previous.get("corpora", {}).get(corpus, {}):
            part[WORDS_EQUAL] = previous["corpora"][corpus][WORDS_EQUAL]
        part["seed_spread"] = spread
        for name, runs in spread.items():
            if name in part["models"]:
                part["models"][name].update(
                    {k: runs[k] for k in ("seeds", "test_accuracy_mean", "test_accuracy_std")}
                )
        save(results)


def measured_accuracy(clone: Path, corpus: str) -> dict:
    """One corpus's accuracy at the defaults in the clone: per model, the answer in two parts,
    the champion and the size of the test set."""
    comparison = clone / CorpusPaths(corpus).outputs.comparison
    return {
        "models": accuracy_at_defaults(clone, corpus),
        "answer": evaluation_of(clone, "order", corpus),
        "champion": read_json(comparison)["champion"],
        "test_texts": test_texts(clone, corpus),
    }


def corpus_seed_spread(
    clone: Path, corpus: str, part: dict, args: argparse.Namespace, previous: dict, measure: bool
) -> dict:
    """``corpus``'s seed spread: measured (``measure``) for its best recurrent model or
    --seed-models, the last run's (``previous``, per corpus) for every model not measured;
    one carried from another clone names the commit that measured it."""
    before = previous.get("corpora", {}).get(corpus, {}).get("seed_spread", {})
    carried = {name: {"commit": previous.get("commit")} | spread for name, spread in before.items()}
    if not measure:
        return carried if not args.skip_cold else before  # --skip-cold: the same clone's
    only = args.seed_models
    if only is None:  # the models the answer is about: its best recurrent one and neural bag
        only = answer_models(part)
    spread = seed_spread(clone, args.seeds, part["models"], only, corpus)
    return spread | {name: runs for name, runs in carried.items() if name not in spread}


def answer_models(part: dict) -> list[str]:
    """The models a corpus's answer is about: its best recurrent model and the neural bag its
    part (c) sets against it (where it has one)."""
    words = part["answer"].get("words_equal")
    return [part["answer"]["best_recurrent"]] + ([words["neural_bag"]] if words else [])


def vectors_bought(results: dict, clone: Path, args: argparse.Namespace, previous: dict) -> None:
    """What the word vectors buy each corpus's best recurrent model and neural bag, into its
    part of ``results``: measured with --vectors (for --corpora), else the last run's, which
    names the commit of the clone it was measured in."""
    before = per_corpus(previous)["corpora"] if previous else {}
    for corpus, part in results["corpora"].items():
        if args.vectors and (args.corpora is None or corpus in args.corpora):
            log.info("%s: what the word vectors buy", corpus)
            part[VECTORS] = {"commit": git_commit(clone)}
            part[VECTORS] |= what_vectors_buy(clone, answer_models(part), corpus)
            save(results)
        elif VECTORS in before.get(corpus, {}):
            part[VECTORS] = before[corpus][VECTORS]


def sentences_alone(results: dict, clone: Path, args: argparse.Namespace, previous: dict) -> None:
    """SST-2 trained on its sentences alone against its run on every phrase, into its corpus
    part of ``results``: measured with --sentences, else the last run's (``previous``), which
    names the commit of the clone it was measured in."""
    part = results["corpora"].get(PHRASE_CORPUS)
    if part is None:
        if args.sentences:
            raise SystemExit(f"--sentences: the clone has no {PHRASE_CORPUS} corpus")
        return
    if args.sentences:
        log.info("%s trained on its sentences alone", PHRASE_CORPUS)
        part[SENTENCES] = train_on_sentences(clone)
        save(results)
        return
    before = per_corpus(previous)["corpora"] if previous else {}
    if SENTENCES in before.get(PHRASE_CORPUS, {}):
        part[SENTENCES] = before[PHRASE_CORPUS][SENTENCES]


def training_speed(results: dict, clone: Path, args: argparse.Namespace) -> None:
    """Training throughput against the reference, and the matmul peak, into ``results``."""
    log.info("matmul peak")
    peak = matmul_gflops()
    results["throughput"] = throughput(clone, args.epochs, args.repeats, args.throughput_reviews)
    results["throughput_settings"] = {
        "epochs": args.epochs,
        "repeats": args.repeats,
        "reviews": args.throughput_reviews,
        "tutorial": TUTORIAL,
    }
    add_peak_fractions(results["throughput"], peak)
    results["matmul_gflops_float32"] = round(peak, 1)
    results["tensorflow_threads"] = THREADS
    save(results)


def serving(clone: Path) -> list[dict]:
    """The load test (bench/serve_load.py) of the clone's champion and of its tfidf."""
    import mlflow
    import pandas as pd

    from imdb_sentiment.tracking.store import tracking_uri

    os.chdir(clone)  # the clone's MLflow store is the default one there
    mlflow.set_tracking_uri(tracking_uri())
    imdb = CorpusPaths("imdb")
    reviews = pd.read_parquet(
        PreparedPaths(clone / imdb.prepared).reviews, columns=["split", "text"]
    )
    reviews = reviews[reviews.split == "test"].text.tolist()
    tfidf_run = read_json(clone / imdb.models / "tfidf" / "mlflow.json")["run_id"]
    return [
        {**load_test(uri, reviews, SETTINGS, cwd=clone), "settings": SETTINGS}
        for uri in ("models:/imdb-sentiment@champion", f"runs:/{tfidf_run}/tfidf")
    ]


def serving_soak(clone: Path) -> dict:
    """The serving soak against the clone's store and reviews; written to bench/soak.json."""
    from imdb_sentiment.tracking.store import tracking_uri

    os.chdir(clone)  # as serving(): the clone's MLflow store is the default one there
    settings = soak.parser().parse_args([])
    reviews = PreparedPaths(clone / CorpusPaths("imdb").prepared).reviews
    result = soak.run_soak(tracking_uri(), reviews, settings, clone)
    write_json(SOAK_JSON, result)
    return result


if __name__ == "__main__":
    sys.exit(main())
