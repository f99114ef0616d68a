"""Choosing samples: Kennard-Stone, SPXY and random selection (transfer standards, calibration splits).

All functions return row indices in the order the samples were picked.
"""

from __future__ import annotations

import numpy as np

from spectralfm.errors import InputError


def _as_matrix(X, key: str = "X") -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise InputError(f"{key}: expected a 2-D array (samples x variables), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise InputError(f"{key}: contains non-finite values")
    return X


def _check_count(n: int, n_pool: int, key: str = "n") -> int:
    if int(n) != n or n < 1:
        raise InputError(f"{key}={n!r}: must be a positive integer")
    if n > n_pool:
        raise InputError(f"{key}={n} exceeds the pool of {n_pool} samples")
    return int(n)


def _pairwise_distances(X: np.ndarray) -> np.ndarray:
    sq = np.einsum("ij,ij->i", X, X)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (X @ X.T)
    np.maximum(d2, 0.0, out=d2)  # round-off can make tiny negatives
    np.fill_diagonal(d2, 0.0)
    return np.sqrt(d2)


def _max_min_selection(D: np.ndarray, n: int) -> np.ndarray:
    """Classic Kennard-Stone on a distance matrix: start with the farthest pair, then repeatedly add
    the sample whose distance to its nearest already-chosen sample is largest."""
    if len(D) == 1:
        return np.zeros(1, dtype=int)
    first, second = np.unravel_index(np.argmax(D), D.shape)
    if first == second:  # all samples identical: any pair is "farthest"
        first, second = 0, 1
    chosen = [int(min(first, second)), int(max(first, second))][:n]
    # Distance of every sample to its nearest chosen one; chosen samples are masked with -1.
    nearest = D[chosen].min(axis=0)
    nearest[chosen] = -1.0
    while len(chosen) < n:
        pick = int(np.argmax(nearest))
        chosen.append(pick)
        np.minimum(nearest, D[pick], out=nearest)
        nearest[chosen] = -1.0
    return np.asarray(chosen, dtype=int)


def kennard_stone(X, n: int) -> np.ndarray:
    """Indices of `n` rows of `X` chosen by Kennard-Stone (Euclidean distance).

    n=1 returns the first sample of the farthest pair.
    """
    X = _as_matrix(X)
    n = _check_count(n, len(X))
    return _max_min_selection(_pairwise_distances(X), n)


def kennard_stone_split(X, n_train: int) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, test_idx): train rows picked by Kennard-Stone, test rows are the rest (sorted)."""
    X = _as_matrix(X)
    n_train = _check_count(n_train, len(X), key="n_train")
    train = kennard_stone(X, n_train)
    test = np.setdiff1d(np.arange(len(X)), train)
    return train, test


def spxy(X, y, n: int) -> np.ndarray:
    """SPXY (Galvao et al. 2005): Kennard-Stone on the sum of the x- and y-distances, each scaled by
    its maximum so that neither space dominates."""
    X = _as_matrix(X)
    y = np.asarray(y, dtype=float)
    if y.size != len(X):
        raise InputError(f"y: expected {len(X)} values (one per row of X), got {y.size}")
    y = y.reshape(len(X), 1)
    if not np.all(np.isfinite(y)):
        raise InputError("y: contains non-finite values")
    n = _check_count(n, len(X))
    dx = _pairwise_distances(X)
    dy = _pairwise_distances(y)
    # A constant X or y carries no spread; dividing by 1 leaves its zero distances at zero.
    D = dx / (dx.max() or 1.0) + dy / (dy.max() or 1.0)
    return _max_min_selection(D, n)


def random_selection(n_pool: int, n: int, seed: int) -> np.ndarray:
    """`n` distinct indices drawn uniformly from range(n_pool), reproducible for a given seed."""
    if int(n_pool) != n_pool or n_pool < 1:
        raise InputError(f"n_pool={n_pool!r}: must be a positive integer")
    n = _check_count(n, int(n_pool))
    rng = np.random.default_rng(seed)
    return rng.choice(int(n_pool), size=n, replace=False).astype(int)
