"""Cache prepared samples, keyed by what they were built from.

Building the samples streams the whole click table (10.6 M rows at full scale); a training run
or a dashboard session should not repeat that. The key is a hash of the input files' contents
(not their names or dates: a copied folder still hits, an edited file never does), the task
arguments, and :data:`LOADER_VERSION`, which is bumped whenever the loader's output changes.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
from pathlib import Path

from ..errors import DsrsdError
from ..io import atomic_dir, write_json
from .dataset import MultimodalData
from .oulad import load_final_outcome
from .schema import TABLES
from .tables import find_table

LOADER_VERSION = 2  # 2: a click table must reach the cut-off day to count as covered; click days and encodings in the report
HASH_BLOCK = 1 << 20
NOT_KEYED = {"data_dir", "progress"}  # arguments that do not change the result
SYNTHETIC_DEFAULT = {"enrolments": 3000, "seed": 0}


def cache_root() -> Path:
    """``$DSRSD_CACHE``, or ``~/.cache/dsrsd`` when it is unset or empty (an empty value must not
    mean the current directory)."""
    return Path(os.environ.get("DSRSD_CACHE") or Path.home() / ".cache" / "dsrsd")


def synthetic_dir(enrolments: int = SYNTHETIC_DEFAULT["enrolments"], seed: int = SYNTHETIC_DEFAULT["seed"],
                  progress: bool = False) -> Path:
    """The default synthetic cohort, generated once into the cache and reused."""
    from .synth import write_cohort  # the generator is only needed on a cache miss

    path = cache_root() / f"synthetic-v3-n{enrolments}-s{seed}"
    if not (path / "ground_truth.json").exists():
        write_cohort(path, enrolments=enrolments, seed=seed, progress=progress)
    return path


def fingerprint(data_dir) -> dict:
    """{table: {"file": path relative to data_dir, "bytes": size, "sha256": hex}} for every table found."""
    data_dir = Path(data_dir)
    out = {}
    for name in TABLES:
        path = find_table(data_dir, name)
        if path is None:
            continue
        out[name] = {"file": path.relative_to(data_dir).as_posix(), "bytes": path.stat().st_size,
                     "sha256": file_sha256(path)}
    return out


HASH_MEMO = "file-hashes.json"
SETTLED_SECONDS = 2.0  # a file changed more recently than this is always read again
MEMO_ENTRIES = 512


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, remembered in the cache under its path, size, inode and change times.

    Reading 340 MB of clicks to hash them took ~1 s of a ~1.3 s cached reload at full scale, so a
    file whose identity and times are unchanged is not read again. Any write changes ``st_ctime_ns``
    (which no tool can set back); a file changed within the last ``SETTLED_SECONDS`` is always
    hashed, since a second write inside the file system's timestamp granularity would keep its
    times (git's "racy" rule)."""
    import time

    try:
        st = path.stat()
    except OSError as e:
        raise DsrsdError(f"{path}: cannot read the file ({e.strerror})") from None
    ident = f"{path.resolve()}|{st.st_size}|{st.st_ino}|{st.st_mtime_ns}|{st.st_ctime_ns}"
    settled = time.time() - max(st.st_mtime, st.st_ctime) > SETTLED_SECONDS
    memo_file = cache_root() / HASH_MEMO
    memo = {}
    if settled:
        try:
            memo = json.loads(memo_file.read_text())
            if isinstance(memo, dict) and isinstance(memo.get(ident), str):
                return memo[ident]
        except (OSError, ValueError):
            memo = {}
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while block := f.read(HASH_BLOCK):
                digest.update(block)
    except OSError as e:
        raise DsrsdError(f"{path}: cannot read the file ({e.strerror})") from None
    if settled and isinstance(memo, dict):
        memo = dict(list(memo.items())[-(MEMO_ENTRIES - 1):])
        memo[ident] = digest.hexdigest()
        try:
            write_json(memo_file, memo)
        except OSError:
            pass  # a read-only cache only costs the re-hash
    return digest.hexdigest()


def cache_key(fp: dict, task_kwargs: dict) -> str:
    """sha256 over the fingerprint, the task arguments (defaults filled in) and the loader version."""
    blob = json.dumps({"fingerprint": fp, "task": _task_arguments(task_kwargs), "loader_version": LOADER_VERSION},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def load_cached(data_dir, root=None, **task_kwargs) -> MultimodalData:
    """``load_final_outcome(data_dir, **task_kwargs)``, from the cache when the inputs are unchanged.

    A miss builds the samples into a temporary folder beside the cache entry and renames it into
    place, so an interrupted build never leaves a half-written entry that a later call would trust.
    ``report["cache"]`` says whether this call hit and where the entry lives.
    """
    data_dir = Path(data_dir)
    _task_arguments(task_kwargs)  # unknown argument -> error before any work
    fp = fingerprint(data_dir)
    key = cache_key(fp, task_kwargs)
    entry = Path(root) if root is not None else cache_root()
    entry = entry / key[:32]
    hit = (entry / "info.json").is_file()
    if hit:
        data = MultimodalData.load(entry)
    else:
        data = load_final_outcome(data_dir, **task_kwargs)
        data.report["fingerprint"] = fp
        with atomic_dir(entry, overwrite=True) as tmp:
            data.save(tmp)
    data.report["source"] = str(data_dir)  # the same files may since have moved
    data.report["cache"] = {"key": key, "dir": str(entry), "hit": hit, "loader_version": LOADER_VERSION}
    return data


def cached_samples(prefix: str, key_fields: dict, fp: dict, source, build, loader_version: int,
                   root=None) -> MultimodalData:
    """The samples ``build()`` makes, from the cache entry ``<prefix>-<hash of key_fields>`` when
    present (next-step loaders; ``key_fields`` hold everything the samples depend on, the files'
    fingerprint ``fp`` included). A miss builds into a temporary folder and renames it into place."""
    key = hashlib.sha256(json.dumps(key_fields, sort_keys=True, default=str).encode()).hexdigest()
    entry = (Path(root) if root is not None else cache_root()) / f"{prefix}-{key[:32]}"
    hit = (entry / "info.json").is_file()
    if hit:
        data = MultimodalData.load(entry)
    else:
        data = build()
        data.report["fingerprint"] = fp
        with atomic_dir(entry, overwrite=True) as tmp:
            data.save(tmp)
    data.report["source"] = str(source)
    data.report["cache"] = {"key": key, "dir": str(entry), "hit": hit, "loader_version": loader_version}
    return data


def _task_arguments(task_kwargs: dict) -> dict:
    """The keyed arguments of load_final_outcome, with its defaults filled in."""
    params = inspect.signature(load_final_outcome).parameters
    unknown = set(task_kwargs) - set(params)
    if unknown:
        raise DsrsdError(f"unknown argument(s) for the final_outcome task: {', '.join(sorted(unknown))}")
    args = {k: p.default for k, p in params.items() if k not in NOT_KEYED}
    args.update({k: v for k, v in task_kwargs.items() if k not in NOT_KEYED})
    return args
