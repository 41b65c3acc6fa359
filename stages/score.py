"""DVC stages score@NAME, score_baseline@NAME and score_ensemble@NAME: one model on every
text set of data/probes/ -> scores/FAMILY/NAME/ (its per-review scores and its numbers) and
its MLflow run. An ensemble is computed from its members' saved scores, not scored again."""

from imdb_sentiment.cli import run_stage
from imdb_sentiment.evaluation.probes import PROBES, load_probes
from imdb_sentiment.evaluation.scoring import score_ensemble, score_folder, score_model
from imdb_sentiment.params import ENSEMBLE, RECURRENT
from imdb_sentiment.paths import MODELS
from imdb_sentiment.tracking.runs import model_stage


def main() -> None:
    name, params = model_stage(__doc__, None)
    families = params.families()
    family = families[name]
    data = load_probes(PROBES)
    out_dir = score_folder(family, name)
    if family == ENSEMBLE:
        score_ensemble(name, families, data, params.seed, MODELS, out_dir)
        return
    if family == RECURRENT:
        from imdb_sentiment.runtime import import_tensorflow

        import_tensorflow()  # quietly, and only for the models that need it
    score_model(name, family, data, params.seed, MODELS, out_dir)


if __name__ == "__main__":
    run_stage(main)
