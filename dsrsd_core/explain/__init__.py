"""Attributions and the numbers behind the dashboard, computed from a trained run.

* :mod:`.recorder`: ``dsrsd explain``, :func:`explain` computes everything the dashboard shows
  (written by :func:`dsrsd_core.run_dir.write_explanation`); :func:`encode_all` runs the encoders;
* :mod:`.shapley`: exact Shapley values over the 2M shared/private streams;
* :mod:`.modality_shapley`: exact Shapley values over the M modalities, for any model;
* :mod:`.modality_drop`: predictions with modalities removed or made noisy;
* :mod:`.gradients`: captum Integrated Gradients over streams and raw inputs;
* :mod:`.diagnostics`: correlation structure, effective rank, cross-modal alignment;
* :mod:`.embeddings`: UMAP maps of the shared and private spaces and their neighbourhoods;
* :mod:`.planted`: measured attributions against the synthetic cohort's planted truth.

Importing this package loads torch and captum. The dashboard never imports it: it reads
finished run directories, and attribution shares come from :mod:`dsrsd_core.shares`.
"""
from .diagnostics import alignment, correlation, diagnostics, effective_rank
from .embeddings import embedding_maps, label_separation, nearest_learners, neighbour_mixing, umap_2d
from .gradients import input_integrated_gradients, rank_agreement, stream_integrated_gradients
from .modality_drop import modality_drop, removal_subsets, robustness_curves
from .modality_shapley import dominance, modality_shapley, predicted_class_phi
from .planted import latent_correlation, planted_truth_check, ranking_agreement
from .recorder import encode_all, explain
from .shapley import coalition_masks, exact_stream_shapley, shapley_from_values, shapley_weights

__all__ = ["alignment", "coalition_masks", "correlation", "diagnostics", "dominance", "effective_rank",
           "embedding_maps", "encode_all", "exact_stream_shapley", "explain", "input_integrated_gradients",
           "label_separation", "latent_correlation", "modality_drop", "modality_shapley", "nearest_learners",
           "neighbour_mixing", "planted_truth_check", "predicted_class_phi", "rank_agreement", "ranking_agreement",
           "removal_subsets", "robustness_curves", "shapley_from_values", "shapley_weights",
           "stream_integrated_gradients", "umap_2d"]
