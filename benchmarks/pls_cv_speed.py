"""Cross-validated PLS on corn: sklearn refitted per fold and per k vs `PLSRegressionCV`'s numpy path.

Corn m5 spectra (700 wavelengths), moisture, the first 60 rows; 10 shuffled folds, k = 1..20.
  loop  the straightforward way: for each fold and each k a fresh sklearn
        PLSRegression(n_components=k, scale=False), then the final model on all rows
  fast  PLSRegressionCV(max_components=20, cv=10): one `pls1_path` per fold gives every k
Both use the same folds and the one-SE rule, so they must agree on RMSECV and the chosen k; the run
prints the largest RMSECV difference as a check. Times are per complete CV + final fit, the
median and the best over the repetitions.

`pls1_path` runs its NIPALS loop on one BLAS thread itself (small products: threads cost more
than they save). `--threads N` also limits the whole run, the sklearn loop included, to N BLAS
threads; by default BLAS is left as configured, i.e. what a user of either gets.

    .venv/bin/python benchmarks/pls_cv_speed.py [--repeats 5] [--threads N] [--data corn.mat]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.cross_decomposition import PLSRegression
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

from spectralfm.datasets import read_corn_mat
from spectralfm.transfer.pls import PLSRegressionCV, choose_n_components

K_MAX = 20
N_FOLDS = 10
SEED = 0
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "corn.mat"


def loop_cv(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, int]:
    """RMSECV for k = 1..K_MAX and the chosen k, one sklearn fit per fold and per k."""
    folds = KFold(N_FOLDS, shuffle=True, random_state=SEED).split(X)
    fold_mse = np.empty((N_FOLDS, K_MAX))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="y residual is constant")
        for f, (train, test) in enumerate(folds):
            for k in range(1, K_MAX + 1):
                model = PLSRegression(n_components=k, scale=False).fit(X[train], y[train])
                fold_mse[f, k - 1] = np.mean((model.predict(X[test]).ravel() - y[test]) ** 2)
        n_components = choose_n_components(fold_mse, "one_se")
        PLSRegression(n_components=n_components, scale=False).fit(X, y)
    return np.sqrt(fold_mse.mean(axis=0)), n_components


def fast_cv(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, int]:
    model = PLSRegressionCV(max_components=K_MAX, cv=N_FOLDS, random_state=SEED).fit(X, y)
    return model.rmsecv_, model.n_components_


def timed(fn, X, y, repeats: int) -> tuple[list[float], tuple]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(X, y)
        times.append(time.perf_counter() - start)
    return times, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads for the run")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    if args.threads is not None:
        threadpool_limits(args.threads)

    corn = read_corn_mat(args.data)
    X = corn.spectra["m5"][:60]
    y = corn.Y[:60, corn.properties.index("moisture")]
    print(f"corn m5 moisture: {X.shape[0]} rows x {X.shape[1]} wavelengths, "
          f"{N_FOLDS} folds, k = 1..{K_MAX}, {args.repeats} repetitions, BLAS threads: {args.threads or 'default'}")  # fmt: skip

    fast_cv(X, y)  # warm-up: imports and first-call overheads out of the timing
    loop_times, (loop_rmsecv, loop_k) = timed(loop_cv, X, y, args.repeats)
    fast_times, (fast_rmsecv, fast_k) = timed(fast_cv, X, y, args.repeats)

    for name, times in (("sklearn loop", loop_times), ("PLSRegressionCV", fast_times)):
        print(
            f"{name:>16}: median {np.median(times) * 1e3:9.1f} ms, best {min(times) * 1e3:9.1f} ms"
        )
    print(f"speed-up (median): {np.median(loop_times) / np.median(fast_times):.0f}x")
    print(f"chosen k: loop {loop_k}, fast {fast_k}; "
          f"max |RMSECV difference| {np.abs(loop_rmsecv - fast_rmsecv).max():.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
