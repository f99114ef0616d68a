"""EPO's inner validation against one alternative rule, on corn's repeated splits (moisture).

The engine (spectralfm.transfer.tuning) scores each candidate by K-fold CV over the transfer
standards: a held-out standard's target spectrum is predicted and compared with its reference
value. Kennard-Stone standards are the calibration set's extreme samples, so that score measures
extrapolation, which may punish complex master models more than interior test samples would.

The alternative measured here ("decomposed"), from training data only:
  transfer error: on held-out standards, the squared difference between the prediction from the
      target spectrum and from the master spectrum of the same sample (needs no reference value),
      from the same fold fits the engine uses;
  master error: 5-fold CV over the master calibration rows (their master spectra, through the
      candidate's correction and master model, fitted without the fold);
  score = the sum of the two mean squared errors; the candidate and latent-variable count with the
      lowest score are refitted on the whole task.

EPO only: its correction (a projection) applies to the spectra of both instruments, so a candidate's
predictor is meaningful on master spectra too. The target-to-master maps (PDS, DS, CORAL, ...) would
need their master model without the correction, which the engine's predictors do not expose.

Prints, per pair, the test RMSEP of both choices on the fixed Kennard-Stone split and the mean
over the random splits with the paired ratio decomposed / engine. A measurement, not a default:
nothing in the pipeline uses the decomposed rule.

    python benchmarks/validation_bias.py [--n 10] [--repeats 10]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spectralfm.datasets import load_benchmark  # noqa: E402
from spectralfm.transfer import make_method  # noqa: E402
from spectralfm.transfer.protocol import (  # noqa: E402
    build_task,
    make_splits,
    pair_spectra,
    select_standards,
)
from spectralfm.transfer.registry import method_class  # noqa: E402
from spectralfm.transfer.tuning import (  # noqa: E402
    _Predictor,
    one_blas_thread,
    shuffled_folds,
)


def decomposed_predictor(method, task):
    """The candidate and latent-variable count with the lowest transfer + master error."""
    candidates = method._candidates(task.X_master.shape[1])
    k_max = method._k_max()
    stateless = method._stateless_preprocessing(task, candidates)

    transfer = np.zeros((len(candidates), k_max))  # target-minus-master prediction differences
    for units in shuffled_folds(task.n_standards, method.cv, task.seed):
        fitted = method._fit_subset(task, units, candidates, stateless)
        for c, item in enumerate(fitted):
            if item is None:
                transfer[c] = np.inf
                continue
            predict = _Predictor(*item)
            diff = predict(task.X_target_std[units]) - predict(task.X_master_std[units])
            transfer[c] += np.where(np.isfinite(diff), diff**2, np.inf).sum(axis=0)
    transfer /= task.n_standards

    master = np.zeros((len(candidates), k_max))
    for units in shuffled_folds(len(task.y), 5, task.seed):
        sub = task.without_calibration_rows(units)
        fitted = method._fit_subset(sub, np.empty(0, int), candidates, {})
        master += method._sse(fitted, task.X_master[units], task.y[units], k_max)
    master /= len(task.y)

    c, k = np.unravel_index(int(np.argmin(transfer + master)), transfer.shape)
    final = method._fit_subset(task, np.empty(0, int), [candidates[c]], stateless)[0]
    predictor = _Predictor(*final)
    return lambda X: predictor(X)[:, k], candidates[c], k + 1


def rmse(pred, y) -> float:
    return float(np.sqrt(np.mean((pred - y) ** 2)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10, help="Kennard-Stone standards")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    corn = load_benchmark("corn", [args.shared / "corn.mat"])
    y_all = corn.property("moisture")
    cls = method_class("epo")
    for target in ("mp5", "mp6"):
        Xm, Xt, grid = pair_spectra(corn, "m5", target)
        engine, decomposed = [], []
        for split in make_splits(corn, "m5", "kennard_stone", 60, args.repeats):
            cal, test = split.calibration, split.test
            std = select_standards(Xm[cal], args.n, "kennard_stone", split.seed)
            task = build_task(Xm, Xt, y_all, cal, std, grid, cls, split.seed)
            method = make_method("epo")
            with one_blas_thread():
                fitted = method.fit(task)
                predict, (spec, params), k = decomposed_predictor(method, task)
            engine.append(rmse(fitted.predict(Xt[test]), y_all[test]))
            decomposed.append(rmse(predict(Xt[test]), y_all[test]))
            print(
                f"  m5->{target} {split.name}: engine {engine[-1]:.3f} "
                f"({fitted.preprocessing_}, {fitted.params_['master_components']} LVs), "
                f"decomposed {decomposed[-1]:.3f} ({spec}, {params}, {k} LVs)",
                flush=True,
            )
        ratio = np.array(decomposed[1:]) / np.array(engine[1:])
        print(
            f"m5->{target}, moisture, epo, N={args.n}: fixed split engine "
            f"{engine[0]:.3f} / decomposed {decomposed[0]:.3f}; random splits mean engine "
            f"{np.mean(engine[1:]):.3f} / decomposed {np.mean(decomposed[1:]):.3f}, ratio "
            f"{ratio.mean():.2f} (range {ratio.min():.2f}-{ratio.max():.2f}, "
            f"{int((ratio < 1).sum())}/{len(ratio)} splits better)"
        )


if __name__ == "__main__":
    main()
