"""Speed of the tuned transfer fits against the straightforward loop, in one run.

What the tuned methods cache or vectorise (spectralfm.transfer.tuning / composite / pds):
  1. PDS's windowed regressions: one array computation for all windows (pds.window_pls) against a
     loop of per-window sklearn PLSRegression fits.
  2. A whole tuned fit (inner folds + CV+ sub-fits over every candidate and latent-variable count)
     against the straightforward loop: for every sub-fit and candidate, the preprocessing fitted
     and applied again, and one sklearn PLSRegression per latent-variable count.
  3. A whole tuned di-PLS fit: the row-space basis, the first latent variable's eigenproblem and
     the domain scale computed once per sub-fit and preprocessing, shared by the domain-weight
     candidates, against the same code recomputing them for every candidate.
  4. Whole tuned EPO, DS, SST and CORAL fits: each correction's factorisation (the SVD its fit
     computes whatever the component count) computed once per sub-fit and preprocessing, shared
     by the candidates, against the same code factorising again for every candidate.
Both sides choose from the same errors; the script checks they pick the same setting.

    python benchmarks/transfer_tuning_speed.py [--repeats 3]

Corn (m5 -> mp6, moisture, Kennard-Stone 60/20 split, 10 Kennard-Stone standards); for di-PLS also
wheat (A1 -> B, protein, the Kennard-Stone 165/82 split, 20 standards). Prints times and ratios;
machines here are noisy, so compare the ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.cross_decomposition import PLSRegression
from threadpoolctl import threadpool_limits

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spectralfm.datasets import load_benchmark, read_corn_mat  # noqa: E402
from spectralfm.preprocessing import parse_preprocessing  # noqa: E402
from spectralfm.transfer import make_method  # noqa: E402
from spectralfm.transfer.base import TransferTask  # noqa: E402
from spectralfm.transfer.dipls import DIPLSTransfer  # noqa: E402
from spectralfm.transfer.pds import PDS, window_indices, window_pls  # noqa: E402
from spectralfm.transfer.protocol import build_task, make_splits, pair_spectra  # noqa: E402
from spectralfm.transfer.selection import kennard_stone, kennard_stone_split  # noqa: E402
from spectralfm.transfer.sst import SST  # noqa: E402
from spectralfm.transfer.tuning import min_units_for_interval, shuffled_folds  # noqa: E402


def corn_task(shared: Path, n_std: int = 10) -> TransferTask:
    corn = read_corn_mat(shared / "corn.mat")
    cal, _ = kennard_stone_split(corn.spectra["m5"], 60)
    cal = np.sort(cal)
    y = corn.property("moisture")[cal]
    Xm, Xt = corn.spectra["m5"][cal], corn.spectra["mp6"][cal]
    std = np.asarray(kennard_stone(Xm, n_std))
    return TransferTask(Xm, y, Xm[std], Xt[std], y[std], std_index=std)


def protocol_task(data, pair: str, prop: str, n_cal: int, n_std: int, name: str) -> TransferTask:
    """The protocol's task for method `name` (the unlabeled pool included when it uses one) on
    the Kennard-Stone split."""
    master, target = pair.split("->")
    Xm, Xt, grid = pair_spectra(data, master, target)
    cal = make_splits(data, master, "kennard_stone", n_cal, 0)[0].calibration
    std = np.asarray(kennard_stone(Xm[cal], n_std))
    method = type(make_method(name))
    return build_task(Xm, Xt, data.property(prop), cal, std, grid, method, seed=0)


def best_of(repeats: int, fn) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


# ---- 1. PDS windows


def pds_loop(Xt, Xm, window: int, n_components: int) -> np.ndarray:
    """Per-window sklearn PLS: the straightforward PDS."""
    index, valid = window_indices(Xt.shape[1], window)
    coef = np.zeros(index.shape)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore")
        for j in range(Xt.shape[1]):
            cols = index[j][valid[j]]
            k = min(n_components, len(Xt) - 1, len(cols))
            pls = PLSRegression(k, scale=False).fit(Xt[:, cols], Xm[:, j])
            coef[j, valid[j]] = pls.coef_.ravel()
    return coef


# ---- 2. a whole tuned fit, straightforwardly


def naive_tuned_sst(task: TransferTask, specs, grid, k_max: int, cv: int):
    """The same folds, nested CV+ sub-fits and one-SE choice as TunedTransferMethod, with nothing
    shared: preprocessing refitted per candidate, one sklearn PLS per latent-variable count."""
    folds = shuffled_folds(task.n_standards, cv, task.seed)
    subsets = [(g,) for g in range(len(folds))]
    if task.n_standards >= min_units_for_interval():
        subsets += list(itertools.combinations(range(len(folds)), 2))
    candidates = [(s, c) for s in specs for c in grid]
    errors = {}
    for subset in subsets:
        sub = task.without_standards(np.concatenate([folds[g] for g in subset]))
        for ci, (spec, n_comp) in enumerate(candidates):
            pre = parse_preprocessing(spec).fit(sub.X_master)
            sst = SST(n_comp).fit(pre.transform(sub.X_target_std), pre.transform(sub.X_master_std))
            Xm = pre.transform(sub.X_master)
            for g in subset:
                X = sst.transform(pre.transform(task.X_target_std[folds[g]]))
                for k in range(1, k_max + 1):
                    with warnings.catch_warnings():
                        warnings.filterwarnings("ignore")
                        pls = PLSRegression(min(k, len(Xm) - 1), scale=False).fit(Xm, sub.y)
                    err = pls.predict(X).ravel() - task.y_std[folds[g]]
                    errors[(subset, g, ci, k - 1)] = np.mean(err**2)
    mean = np.zeros((len(candidates), k_max))
    for g in range(len(folds)):
        for ci in range(len(candidates)):
            for k in range(k_max):
                mean[ci, k] += errors[((g,), g, ci, k)] / len(folds)
    return candidates, mean


# ---- 3. di-PLS with nothing shared between candidates


class UnsharedDIPLS(DIPLSTransfer):
    """DIPLSTransfer given a fresh cache for every candidate: basis, first factorisation and
    domain scale recomputed for each domain weight."""

    def _fit_candidate(self, task, spec, params, cache):
        return super()._fit_candidate(task, spec, params, {})


# ---- 4. corrections factorised again for every candidate


def unshared_factors(name: str):
    """The tuned method `name` fitting every candidate's correction from scratch."""

    class Unshared(type(make_method(name))):
        def _fit_correction(self, task, spec, settings, cache):
            return self.correction(**settings).fit(*self._correction_spectra(task))

    return Unshared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    task = corn_task(args.shared)
    with threadpool_limits(limits=1, user_api="blas"):
        Xt = task.X_target_std - task.X_target_std.mean(axis=0)
        Xm = task.X_master_std - task.X_master_std.mean(axis=0)
        t_loop, ref = best_of(args.repeats, lambda: pds_loop(Xt, Xm, 3, 2))
        index, valid = window_indices(Xt.shape[1], 3)
        blocks = np.transpose(Xt[:, index], (1, 0, 2)) * valid[:, None, :]
        t_vec, path = best_of(args.repeats, lambda: window_pls(blocks, Xm.T, 2))
        assert np.allclose(path[-1] * valid, ref, atol=1e-8), "window_pls differs from sklearn"
        PDS(window=3, n_components=2).fit(task.X_target_std, task.X_master_std)  # warm
        print(
            f"PDS windows (700 windows, half-width 3, 2 LVs): sklearn loop {1e3 * t_loop:.1f} ms, "
            f"vectorised {1e3 * t_vec:.2f} ms: {t_loop / t_vec:.0f}x"
        )

        specs, grid, k_max = ("none", "snv", "sg1(15,2)"), (1, 2, 3, 4, 6), 10
        t_naive, (candidates, mean) = best_of(
            1, lambda: naive_tuned_sst(task, specs, grid, k_max, cv=5)
        )
        t_fast, fitted = best_of(
            args.repeats, lambda: make_method("sst", max_components=k_max).fit(task)
        )
        naive_best = candidates[int(np.unravel_index(np.argmin(mean), mean.shape)[0])]
        print(
            f"tuned SST fit, N=10 (16 sub-fits x {len(specs) * len(grid)} candidates x "
            f"{k_max} LVs): straightforward loop {t_naive:.2f} s, tuned engine "
            f"{t_fast:.3f} s: {t_naive / t_fast:.0f}x"
        )
        print(
            f"  engine chose preprocessing={fitted.preprocessing_}, params={fitted.params_}; the "
            f"loop's lowest mean fold error is at {naive_best} (the engine then applies the "
            f"one-SE rule over latent variables)"
        )

        corn = load_benchmark("corn", [args.shared / "corn.mat"])
        wheat = load_benchmark("wheat", sorted((args.shared / "mirror/idrc2016").glob("*.xlsx")))
        for label, task in [
            ("corn m5->mp6, N=10", protocol_task(corn, "m5->mp6", "moisture", 60, 10, "dipls")),
            ("wheat A1->B, N=20", protocol_task(wheat, "A1->B", "protein", 165, 20, "dipls")),
        ]:
            t_unshared, slow = best_of(1, lambda t=task: UnsharedDIPLS().fit(t))
            t_shared, fast = best_of(args.repeats, lambda t=task: DIPLSTransfer().fit(t))
            assert fast.params_ == slow.params_, "sharing changed di-PLS's choice"
            assert np.allclose(fast.residuals_, slow.residuals_), "sharing changed the fits"
            print(
                f"tuned di-PLS fit, {label}: each candidate recomputing {t_unshared:.2f} s, "
                f"shared per sub-fit {t_shared:.2f} s: {t_unshared / t_shared:.2f}x "
                f"(same choice: {fast.params_})"
            )

        for name in ("epo", "ds", "sst", "coral"):
            task = protocol_task(corn, "m5->mp6", "moisture", 60, 10, name)
            unshared = unshared_factors(name)
            t_unshared, slow = best_of(args.repeats, lambda t=task, m=unshared: m().fit(t))
            t_shared, fast = best_of(args.repeats, lambda t=task, n=name: make_method(n).fit(t))
            assert fast.params_ == slow.params_, f"sharing changed {name}'s choice"
            assert np.allclose(fast.residuals_, slow.residuals_), f"sharing changed {name}'s fits"
            print(
                f"tuned {name} fit, corn m5->mp6, N=10: factorising per candidate "
                f"{t_unshared:.2f} s, once per sub-fit {t_shared:.2f} s: "
                f"{t_unshared / t_shared:.2f}x (same choice)"
            )


if __name__ == "__main__":
    main()
