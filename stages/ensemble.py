"""DVC stage ensemble@CORPUS-NAME: an ensemble of params.yaml `ensembles:`, its weights picked
on the corpus's validation split from its members' saved scores -> models/CORPUS/NAME/ and an
MLflow run; its headline -> metrics/CORPUS/train/NAME.json."""

from imdb_sentiment.cli import run_stage
from imdb_sentiment.evaluation.ensemble import build_ensemble
from imdb_sentiment.evaluation.headline import write_training_headline
from imdb_sentiment.evaluation.probes import load_probes
from imdb_sentiment.paths import CorpusPaths
from imdb_sentiment.serving.requirements import check_model_environment
from imdb_sentiment.tracking.runs import model_stage


def main() -> None:
    name, params = model_stage(__doc__, "ensembles")
    check_model_environment()  # before the training, not when the model is logged after it
    paths = CorpusPaths(params.corpus)
    val_labels = load_probes(paths.probes).val.label.to_numpy()
    summary = build_ensemble(name, params, val_labels, paths.prepared, paths.models, paths.scores)
    write_training_headline(summary, paths.train_metrics / f"{name}.json")


if __name__ == "__main__":
    run_stage(main)
