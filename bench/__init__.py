"""The benchmark on the full data set (not part of the test run): `python -m bench.run`.

One job per module: the pipeline's cold run, accuracy and seeds (pipeline), SST-2 trained on
its sentences alone beside its run on phrases (phrases), training speed (throughput), serving
load and soak (serve_load, soak), the pretraining study (pretrain), the per-corpus shape of the
accuracy numbers (corpora), and RESULTS.md rendered from the JSON files they write (render).
These are its files.
"""

from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent  # the checkout the benchmark measures
RESULTS_JSON = BENCH / "results.json"  # bench/run.py's numbers and the settings behind them
SOAK_JSON = BENCH / "soak.json"  # bench/soak.py's
PRETRAIN_JSON = BENCH / "pretrain.json"  # bench/pretrain.py's study
RESULTS_MD = BENCH / "RESULTS.md"  # rendered from the three
