"""Tracking: MLflow. The store and its experiment, one run per model, the registry and the
`champion` alias, `mlflow run`'s project runs, and the team's tracking server.

It imports only the package root's helpers.
"""
