"""Reading the pretraining corpus for training: a torch IterableDataset over its HDF5 blocks.

Apart from spectralfm.corpus (which assembles the file) because it needs torch, and the corpus job
must not (its conda env has no torch).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from spectralfm.corpus import SPLITS, _blocks
from spectralfm.errors import InputError


class CorpusDataset(IterableDataset):
    """Rows of one split read in contiguous blocks; yields (spectrum, axis, domain id).

    spectrum: float32 tensor (n_points,); axis: float32 tensor (2,) start/stop cm^-1; domain: int.

    Each epoch the block order is shuffled with (seed, epoch), identically in every process, and the
    blocks are dealt round-robin to (rank, worker) pairs, so no row is read twice; rows are shuffled
    within each block. The HDF5 file is opened lazily in the process that iterates (h5py handles
    must not cross a fork). Call `set_epoch` before each epoch (non-persistent workers pick it up).
    Ranks may receive slightly different row counts; DDP training should bound steps per epoch.
    """

    def __init__(
        self,
        path: str | Path,
        split: str = "train",
        block_size: int = 256,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        super().__init__()
        if split not in SPLITS:
            raise InputError(f"CorpusDataset: split must be one of {SPLITS}, got {split!r}")
        if not 0 <= rank < world_size:
            raise InputError(f"CorpusDataset: need 0 <= rank < world_size, got {rank}/{world_size}")
        if block_size < 1:
            raise InputError(f"CorpusDataset: block_size must be >= 1, got {block_size}")
        self.path = Path(path)
        self.split, self.block_size, self.shuffle, self.seed = split, block_size, shuffle, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        try:
            f = h5py.File(self.path, "r")
        except OSError as exc:
            raise InputError(f"{self.path}: not a readable corpus HDF5 ({exc})") from exc
        with f:
            for key in ("spectra", "axis", "meta/split", "meta/domain"):
                if key not in f:
                    raise InputError(f"{self.path}: corpus lacks /{key}")
            self.in_split = f["meta/split"].asstr()[:] == split
            self.domain = f["meta/domain"][:].astype(np.int64)
            self.domains = json.loads(f.attrs.get("domains", "[]"))
        n = len(self.in_split)
        self.blocks = [(a, b) for a, b in _blocks(n, block_size) if self.in_split[a:b].any()]
        self.n_rows = int(self.in_split.sum())
        self._file: h5py.File | None = None
        self._file_pid: int | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_file"], state["_file_pid"] = None, None
        return state

    def _open(self) -> h5py.File:
        if self._file is None or self._file_pid != os.getpid():
            self._file = h5py.File(self.path, "r")
            self._file_pid = os.getpid()
        return self._file

    def _my_blocks(self) -> tuple[np.ndarray, np.random.Generator]:
        info = get_worker_info()
        worker, n_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        reader = self.rank * n_workers + worker
        n_readers = self.world_size * n_workers
        order = np.arange(len(self.blocks))
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(order)
        row_rng = np.random.default_rng([self.seed, self.epoch, reader, 1])
        return order[reader::n_readers], row_rng

    def __iter__(self):
        f = self._open()
        blocks, rng = self._my_blocks()
        for index in blocks:
            a, b = self.blocks[index]
            spectra = torch.from_numpy(f["spectra"][a:b])
            axis = torch.from_numpy(f["axis"][a:b].astype(np.float32))  # model inputs are float32
            rows = np.flatnonzero(self.in_split[a:b])
            if self.shuffle:
                rows = rng.permutation(rows)
            for r in rows:
                yield spectra[r], axis[r], int(self.domain[a + r])
