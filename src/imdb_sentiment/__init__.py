"""imdb-sentiment: what word order buys in sentiment analysis, tracked in MLflow, run by DVC."""

import os

# TensorFlow's C++ start-up chatter (CPU feature and CUDA probing) buries the stage logs; a user
# who wants it back sets TF_CPP_MIN_LOG_LEVEL=0. Set before anything imports TensorFlow.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
