"""How many CPU threads torch (training, attribution) and numba (UMAP) use.

The default leaves one core free: ``max(1, cores - 1)`` over the cores this process may run on,
divided among the processes ``torchrun`` starts on this machine. Measured on 2 cores
(docs/performance.md, ``benchmarks/threads.py``): torch's own default (one thread per core) makes a
training epoch and the explain step several times slower as soon as another process holds one core,
because every parallel region waits for the thread whose core is taken; one thread per core that is
left free loses little when the machine is quiet. ``--threads N`` overrides it, and an
``OMP_NUM_THREADS`` set by the user is respected as the default.
"""
from __future__ import annotations

import os
import sys


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and ``taskset`` restrict)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_threads() -> int:
    """``OMP_NUM_THREADS`` when set, else ``max(1, cores - 1)`` shared by the processes of this machine."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
    return max(1, (available_cores() - 1) // max(local, 1))


def set_threads(n: int | None = None) -> int:
    """Use ``n`` threads (default :func:`default_threads`) in torch and numba; returns the number set.

    numba sizes its pool when first imported, so the limit is put in the environment for a later
    import, and applied with ``numba.set_num_threads`` when numba is already loaded.
    """
    n = default_threads() if n is None else int(n)
    if n < 1:
        from .errors import DsrsdError

        raise DsrsdError(f"--threads must be at least 1, got {n}")
    import torch

    torch.set_num_threads(n)
    if "numba" in sys.modules:
        import numba

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    else:
        os.environ["NUMBA_NUM_THREADS"] = str(n)
    return n
