"""imdb-sentiment: what word order buys in sentiment analysis, tracked in MLflow, run by DVC."""
