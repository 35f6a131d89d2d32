"""dsrsd: DSRSD-Net (Dual-Stream Residual Semantic Decorrelation Network) for learner data,
with the tools to see which modality, and which of its shared and private streams, drives a prediction."""

__version__ = "0.1.0"
