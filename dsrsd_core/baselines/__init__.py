"""Baselines, trained and evaluated by the same code, splits and early stopping as DSRSD-Net: one
module per model. They are built by name through the registry, :mod:`dsrsd_core.models`."""
