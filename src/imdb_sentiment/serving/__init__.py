"""Serving: the served model. Predictors that take raw text, the input contract, the MLflow
pyfunc logged from code, the model folder and the bag's skops file, and the requirements a
logged model pins.

It may import data (the one text path), tracking (a model folder names its run) and the
package root; never models, evaluation or tuning.
"""
