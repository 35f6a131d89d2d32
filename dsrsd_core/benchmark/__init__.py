"""``dsrsd benchmark``: DSRSD-Net, its baselines and its ablations on the same samples and splits.

One *cell* is one model trained with one seed (the seed sets the learner split and the
initialisation, exactly as ``dsrsd train --seed``).

* :mod:`.cells`: training and evaluating one cell (metrics, robustness, modality dominance,
  planted-truth check);
* :mod:`.grid`: the resumable grid of cells on disk, ``benchmark.json`` and ``results.csv``;
* :mod:`.tables`: ``results.md``, the markdown tables.

See docs/benchmarks.md.
"""
from .cells import METRICS, REFERENCE, SPLITS, evaluate, run_cell
from .grid import CELL_VERSION, cell_path, collect_cells, data_fingerprint, results_frame, run_benchmark
from .tables import paired_difference, results_markdown

__all__ = ["CELL_VERSION", "METRICS", "REFERENCE", "SPLITS", "cell_path", "collect_cells", "data_fingerprint",
           "evaluate", "paired_difference", "results_frame", "results_markdown", "run_benchmark", "run_cell"]
