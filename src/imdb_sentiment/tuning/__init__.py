"""Tuning: the tracked search behind `imdb-sentiment tune`. The space, the RDB-stored Optuna
study, the workers that draw trials from it, the trial history and its winner, the writer that
puts the winner into params.yaml, and `reports/CORPUS/tuning.md`.

It sits on top: it may import models (trials train through `training.fit_model`), evaluation,
serving, data, report, tracking and the package root; nothing in the package imports it but
the command line (`__main__`).
"""
