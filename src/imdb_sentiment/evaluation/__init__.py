"""Evaluation: every text set a model is scored on (probes, suites, minimal pairs), per-model
scores, ensembles built from saved scores, bootstrap intervals, and `compare`, which turns them
into the answer and the headline metric files.

It may import serving (scores come through the served text path), data, tracking and the
package root; never models' training code or tuning.
"""
