"""reports/CORPUS/tuning.md from reports/CORPUS/tuning.json (written by `imdb-sentiment tune`):
every number comes from that file; this module knows nothing of Optuna or training."""

from __future__ import annotations

from typing import Any

from imdb_sentiment.report import markdown as md

# How each Optuna trial state reads in a sentence.
STATES = {
    "COMPLETE": "complete",
    "PRUNED": "pruned",
    "FAIL": "failed",
    "RUNNING": "running or interrupted",
    "WAITING": "waiting",
    "SKIPPED": "stopped untrained (the budget was full)",
}


def render(summary: dict[str, Any]) -> str:
    """The whole report: what was searched and how, then one section per study."""
    lines = ["# Tuning search", "", *method(summary), ""]
    if not summary["studies"]:
        lines += ["No study has run on the current data yet.", ""]
    for study in summary["studies"]:
        lines += [*study_section(study, list(summary["search_space"])), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def method(summary: dict[str, Any]) -> list[str]:
    budget, pruner = summary["budget"], summary["pruner"]
    epochs = (
        f"epoch {pruner['first_epoch']}"
        if pruner["first_epoch"] == pruner["last_epoch"]
        else f"epoch {pruner['first_epoch']} to {pruner['last_epoch']}"
    )
    return [
        f"Rendered from `reports/{summary['corpus']}/tuning.json` (`imdb-sentiment tune "
        f"--corpus {summary['corpus']} --report` rewrites both). Every trial is scored by "
        f"`{summary['objective']}` on {summary['corpus']}'s validation split "
        f"({summary['n_val']:,} texts); the test set is not used.",
        "",
        f"Budget per trial: `train.epochs` {budget['epochs']}, `train.patience` "
        f"{budget['patience']}. Pruning ({pruner['rule']} rule): after {epochs}, a trial "
        f"below the {pruner['rule']} "
        f"of earlier trials at that epoch stops, once {pruner['n_startup_trials']} trials "
        "have finished.",
        "",
        "**Winner:** of the complete trials within one standard error of the best val "
        "accuracy, the one that trained in the fewest seconds.",
        "",
        md.rows(
            ["searched", "values"],
            (
                [name, searched_text(name, dimension, summary)]
                for name, dimension in summary["search_space"].items()
            ),
        ),
    ]


def searched_text(name: str, dimension: dict[str, Any], summary: dict[str, Any]) -> str:
    """A dimension's values, then where an architecture or the word vectors set others."""
    notes = [
        f"{arch}: {dimension_text(space[name])}"
        for arch, space in summary.get("arch_spaces", {}).items()
        if name in space
    ]
    if name == "embedding_dim" and "word_vectors_dim" in summary:
        notes.append(f"{summary['word_vectors_dim']} with embedding_init word_vectors")
    return "; ".join([dimension_text(dimension), *notes])


def dimension_text(dimension: dict[str, Any]) -> str:
    """Choices -> '32, 64'; a range -> '0.0 to 0.6, step 0.1' or '0.0003 to 0.003, log-uniform'."""
    if "choices" in dimension:
        return ", ".join(map(str, dimension["choices"]))
    text = f"{dimension['low']} to {dimension['high']}"
    if dimension.get("step") is not None:
        return f"{text}, step {dimension['step']}"
    return f"{text}, log-uniform" if dimension.get("log") else text


def study_section(study: dict[str, Any], columns: list[str]) -> list[str]:
    counts = ", ".join(
        f"{count} {STATES.get(state, state.lower())}"
        for state, count in study["states"].items()
        if count or state in ("COMPLETE", "PRUNED")
    )
    imported = f"; {study['imported']} from `{study['history']}`" if study.get("imported") else ""
    lines = [
        f"## {study['name']} ({study['arch']}), study `{study['study']}`",
        "",
        f"{study['trials']} trials: {counts}; {study['training_minutes']:.0f} minutes of "
        f"training{imported}.",
        "",
    ]
    if "winner" not in study:
        return [*lines, "No complete trial yet."]
    return [*lines, winner_line(study), "", trial_table(study["top"], columns)]


def winner_line(study: dict[str, Any]) -> str:
    chosen, best = study["winner"], study["best"]
    text = (
        f"Winner: trial {chosen['number']}, val accuracy **{md.pct(chosen['val_accuracy'], 2)}** "
        f"(best epoch {chosen['best_epoch']} of {chosen['epochs_run']}, "
        f"{_seconds(chosen['seconds'])} s), "
    )
    if chosen["number"] == best["number"]:
        text += "the best observed"
    else:
        margin = md.points(study["standard_error"], signed=False)
        text += (
            f"the fastest of {study['within_one_standard_error']} trials within one standard "
            f"error ({margin} points) of the best observed, trial {best['number']} "
            f"({md.pct(best['val_accuracy'], 2)}, {_seconds(best['seconds'])} s)"
        )
    has = study["params_yaml_has_winner"]
    return text + (". params.yaml has it." if has else ". params.yaml does **not** have it yet.")


def trial_table(trials: list[dict[str, Any]], columns: list[str]) -> str:
    header = ["trial", "val acc", "within 1 SE", *columns, "epochs", "s"]
    body = (
        [
            t["number"],
            md.pct(t["val_accuracy"], 2),
            "yes" if t["within_one_standard_error"] else "",
            *(_cell(t["params"].get(c)) for c in columns),
            "" if t["epochs_run"] is None else t["epochs_run"],
            _seconds(t["seconds"]),
        ]
        for t in trials
    )
    return md.rows(header, body)


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "" if value is None else str(value)
