"""DVC stages score@CORPUS-NAME, score_baseline@CORPUS-NAME and score_ensemble@CORPUS-NAME: one
model on every text set of data/probes/CORPUS/ -> scores/CORPUS/FAMILY/NAME/ (its per-text
scores and its numbers) and its MLflow run. An ensemble is computed from its members' saved
scores, not scored again."""

from imdb_sentiment.cli import run_stage
from imdb_sentiment.evaluation.probes import load_probes
from imdb_sentiment.evaluation.scoring import score_ensemble, score_model
from imdb_sentiment.params import ENSEMBLE, NEURAL
from imdb_sentiment.paths import CorpusPaths
from imdb_sentiment.tracking.runs import model_stage


def main() -> None:
    name, params = model_stage(__doc__, None)
    paths = CorpusPaths(params.corpus)
    families = params.families()
    family = families[name]
    data = load_probes(paths.probes)
    if family == ENSEMBLE:
        score_ensemble(name, families, data, params.seed, paths)
        return
    if family in NEURAL:
        from imdb_sentiment.runtime import import_tensorflow

        import_tensorflow()  # quietly, and only for the models that need it
    score_model(name, family, data, params.seed, paths)


if __name__ == "__main__":
    run_stage(main)
