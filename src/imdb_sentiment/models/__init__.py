"""Models: what is trained. The neural networks (recurrent, and the order-blind dan), the bags
of n-grams and their NB weighting, the length-bucketed batches and the one fit loop
(`training.fit_model`).

It may import serving (a trained model is written as a served model folder), data, report
(learning-curve figures), tracking and the package root; never evaluation or tuning.
"""
