"""Pure system model of FGAMCD: configuration, repository, scenario drawing, physics and delays.

Nothing in this package imports PettingZoo, Gymnasium or torch; the environment wrapper and the
learners build on these plain functions of numpy arrays.
"""
