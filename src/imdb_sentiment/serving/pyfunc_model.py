"""The MLflow model's code (MLflow's models from code): MLflow runs this file when it loads a
logged model, instead of unpickling an instance. The project package travels beside it as
``code_paths``, so this imports the very serving code evaluation ran; ``load_context`` then
loads the model folder through ``serving.load_predictor``."""

from mlflow.models import set_model

from imdb_sentiment.serving.mlflow_model import SentimentModel

set_model(SentimentModel())
