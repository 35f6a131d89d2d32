"""DSRSD-Net's auxiliary losses: each a short pure function of tensors, formula in its docstring."""
from .alignment import info_nce, alignment_regression
from .decorrelation import decorrelation, spread_floor
from .independence import kernel_dependence, kernel_dependence_matrix, linear_predictability
from .orthogonality import orthogonality
from .prediction import unexplained_variance

__all__ = ["info_nce", "alignment_regression", "decorrelation", "spread_floor", "kernel_dependence",
           "kernel_dependence_matrix", "linear_predictability", "orthogonality", "unexplained_variance"]
