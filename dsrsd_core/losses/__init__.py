"""DSRSD-Net's auxiliary losses: each a short pure function of tensors, formula in its docstring."""
from .alignment import info_nce, alignment_regression
from .decorrelation import decorrelation
from .orthogonality import orthogonality

__all__ = ["info_nce", "alignment_regression", "decorrelation", "orthogonality"]
