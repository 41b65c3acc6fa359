"""Naive-Bayes log-count-ratio weighting of binary n-gram counts (Wang & Manning 2012, the
"NB" of NBSVM): each feature scaled by how much more often it occurs in positive reviews than
in negative ones. A logistic regression on top is the strongest cheap bag of n-grams.

It lives in its own small module because a saved baseline pipeline names it: loading that
pipeline, in evaluation or in a server, imports this and nothing heavier.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted


class NBLogCountRatio(TransformerMixin, BaseEstimator):
    """``X * r`` with ``r = log((p / |p|_1) / (q / |q|_1))``, where ``p`` and ``q`` are the
    feature counts over positive and negative training rows plus ``alpha`` (smoothing)."""

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def fit(self, X: Any, y: Any) -> NBLogCountRatio:
        X = sparse.csr_matrix(X)
        y = np.asarray(y).astype(bool)
        p = np.asarray(X[y].sum(axis=0)).ravel() + self.alpha
        q = np.asarray(X[~y].sum(axis=0)).ravel() + self.alpha
        self.ratio_ = np.log((p / p.sum()) / (q / q.sum())).astype(np.float32)
        return self

    def transform(self, X: Any) -> sparse.csr_matrix:
        check_is_fitted(self, "ratio_")
        return sparse.csr_matrix(sparse.csr_matrix(X).multiply(self.ratio_))
