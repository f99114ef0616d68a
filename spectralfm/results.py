"""The results table: per-job parts combined into one CSV, its summary, and the report tables.

Every CSV here writes an undefined number (NaN, an infinite interval width) as an EMPTY cell and
reads an empty cell back as NaN (a float column) or None (a count or name column); nothing
undefined is ever written as 0 or 1. Output files are written atomically and deterministically:
identical input gives byte-identical files.

The summary (`summarise`) has one row per setting and evaluation scheme:

* scheme "repeated": all rows of the repeated random calibration/test splits ("random:<seed>");
  scheme "kennard_stone" (or the name of whichever fixed split a dataset uses): the fixed split.
* Within a split the rows of several selection seeds (random standards) are first averaged, so
  that every split counts once. `rmsep_mean` is the mean of these split means.
* `rmsep_lo`/`rmsep_hi`: 95% interval over splits. Random splits share most of their samples, so
  the split means are positively correlated and the naive t interval is too narrow. The corrected
  resampled t interval of Nadeau & Bengio (2003, Machine Learning 52:239) multiplies the sample
  variance of the R split means by (1/R + n_test/n_train) instead of 1/R:
  mean +- t(0.975, R-1) * sqrt((1/R + n_test/n_train) * s^2). n_test is read from the rows and
  n_train is the calibration size of a split (the `target_full` rows' n_transfer, or the value
  passed in); both are means over the splits, which differ only where reference values are
  missing (integers otherwise). On the fixed split the replicates of random standard selection
  are its selection seeds (the tablet, with its one file split, repeats over selections): there
  the interval is the plain t interval over seeds, i.e. the variability the choice of standards
  causes on that one test set. Empty for a single replicate (Kennard-Stone standards on the fixed
  split).
* The paired comparison. A cell is (dataset, pair, property, N, selection, scheme). Its reference
  `best_method` is the classical method (not `target_full`, not SpectralFM) with the lowest
  rmsep_mean. For every other method of the cell, on the splits (and seeds within a split) that it
  and the best both have: `ratio_to_best` = mean of its split-mean RMSEP / mean of the best's,
  `ratio_lo`/`ratio_hi` a 95% percentile bootstrap interval resampling those splits (B = 2000,
  fixed seed), `wins` the number of splits where its split mean is below the best's, `n_paired` the
  number of splits compared. The best itself has ratio 1, no interval and no wins. A method alone
  in its cell (`no_transfer`, `target_full`) has no comparison: those columns are empty.
"""

from __future__ import annotations

import csv
import html
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import stats

from spectralfm.atomic import atomic_path
from spectralfm.errors import InputError
from spectralfm.transfer.registry import CLASSICAL_METHODS, METHOD_CLASSES

# One row per experiment. `split`: "kennard_stone" (the fixed literature split) or "random:<seed>"
# (one of the repeated random splits). `preprocessing` and `params` (compact JSON) record what was
# used, whether chosen inside fit or fixed in config; `unlabeled`: size of the unlabeled target pool
# the method was given. Timings are not here (they would make identical runs differ): Snakemake's
# benchmark files under results/benchmarks/ hold them.
ROW_COLUMNS = [
    "dataset",
    "source",
    "target",
    "property",
    "method",
    "split",
    "n_transfer",
    "selection",
    "seed",
    "n_test",
    "preprocessing",
    "params",
    "unlabeled",
    "rmsep",
    "r2",
    "bias",
    "sep",
    "rpd",
    "slope",
    "picp90",
    "mpiw90",
]
METRICS = ["rmsep", "r2", "bias", "sep", "rpd", "slope", "picp90", "mpiw90"]
INT_COLUMNS = {"n_transfer", "seed", "n_test", "unlabeled"}

REPEATED = "repeated"  # the scheme of the "random:<seed>" splits
RANDOM_SPLIT_PREFIX = "random:"
REFERENCE_EXCLUDED = "target_full"  # classical, but it uses the whole target calibration set
BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 2003
LEVEL = 0.95

SUMMARY_KEYS = [
    "dataset",
    "source",
    "target",
    "property",
    "method",
    "n_transfer",
    "selection",
    "scheme",
]
CELL_KEYS = [key for key in SUMMARY_KEYS if key != "method"]
MEAN_METRICS = ["r2", "bias", "sep", "rpd", "slope"]
SUMMARY_COLUMNS = [
    *SUMMARY_KEYS,
    "n_splits",
    "n_runs",
    "n_test",
    "n_train",
    "rmsep_mean",
    "rmsep_lo",
    "rmsep_hi",
    *[f"{metric}_mean" for metric in MEAN_METRICS],
    "picp90_mean",
    "mpiw90_mean",
    "n_interval_runs",
    "best_method",
    "ratio_to_best",
    "ratio_lo",
    "ratio_hi",
    "wins",
    "n_paired",
]
SUMMARY_INT_COLUMNS = {"n_splits", "n_runs", "n_interval_runs", "wins", "n_paired"}
# Means over splits, ints when integral (always, but where missing references shrink some splits)
SUMMARY_COUNT_COLUMNS = {"n_transfer", "n_test", "n_train"}
SUMMARY_STR_COLUMNS = {*SUMMARY_KEYS, "best_method"} - SUMMARY_INT_COLUMNS - SUMMARY_COUNT_COLUMNS

BENCHMARK_COLUMNS = [
    *CELL_KEYS,
    "best_method",
    "best_rmsep_mean",
    "best_rmsep_lo",
    "best_rmsep_hi",
    "method",
    "rmsep_mean",
    "rmsep_lo",
    "rmsep_hi",
    "ratio_to_best",
    "ratio_lo",
    "ratio_hi",
    "wins",
    "n_paired",
]
BENCHMARK_INT_COLUMNS = {"n_transfer", "wins", "n_paired"}
BENCHMARK_STR_COLUMNS = {*CELL_KEYS, "best_method", "method"} - BENCHMARK_INT_COLUMNS


# ---- reading and writing


def _cell(value) -> str:
    """One CSV cell: None and non-finite numbers are empty; floats as repr (exact round trip)."""
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def _write_csv(path: str | Path, fields: list[str], rows: list[dict]) -> None:
    for number, row in enumerate(rows, start=1):
        missing = [field for field in fields if field not in row]
        extra = [key for key in row if key not in fields]
        if missing or extra:
            raise InputError(
                f"{path}: row {number} lacks columns {missing} / has unknown columns {extra}"
            )
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(fields)
        for row in rows:
            writer.writerow([_cell(row[field]) for field in fields])


def _read_csv(path: str | Path, fields: list[str], ints: set[str], strings: set[str]) -> list[dict]:
    """Rows of a CSV with exactly `fields`: `ints` as int (empty -> None), `strings` as written,
    the rest as float (empty -> NaN). InputError names the file, line and column."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != fields:
            raise InputError(f"{path}: columns {reader.fieldnames} are not the expected {fields}")
        rows = []
        for line, raw in enumerate(reader, start=2):
            row = {}
            for key in fields:
                text = raw[key]
                if text is None:
                    raise InputError(f"{path}, line {line}: too few cells (no {key!r})")
                try:
                    if key in ints:
                        row[key] = int(text) if text != "" else None
                    elif key in strings:
                        row[key] = text
                    else:
                        row[key] = float(text) if text != "" else math.nan
                except ValueError:
                    raise InputError(
                        f"{path}, line {line}, column {key!r}: {text!r} is not a number"
                    ) from None
            if None in raw:
                raise InputError(f"{path}, line {line}: more cells than columns")
            rows.append(row)
    return rows


def write_rows(rows: list[dict], path: str | Path) -> None:
    """The per-experiment table (columns ROW_COLUMNS); undefined metrics as empty cells."""
    _write_csv(path, ROW_COLUMNS, rows)


def read_rows(path: str | Path) -> list[dict]:
    """Rows written by write_rows: counts as int, metrics as float (empty -> NaN), the rest
    (split, preprocessing, params, ...) as the strings written. InputError names file and line."""
    strings = set(ROW_COLUMNS) - INT_COLUMNS - set(METRICS)
    rows = _read_csv(path, ROW_COLUMNS, INT_COLUMNS, strings)
    for line, row in enumerate(rows, start=2):
        for key in INT_COLUMNS:
            if row[key] is None:
                raise InputError(f"{path}, line {line}, column {key!r}: empty, needs an integer")
        try:
            split_scheme(row["split"])
        except InputError as e:
            raise InputError(f"{path}, line {line}: {e}") from None
    return rows


def combine(parts: list[str | Path], path: str | Path) -> list[dict]:
    """Concatenate per-job parts in a stable order (the order of `parts`)."""
    rows = [row for part in parts for row in read_rows(part)]
    write_rows(rows, path)
    return rows


def write_summary(summary: list[dict], path: str | Path) -> None:
    _write_csv(path, SUMMARY_COLUMNS, summary)


def read_summary(path: str | Path) -> list[dict]:
    """A summary CSV as summarise returns it: empty counts and names None, empty floats NaN."""
    rows = _read_csv(path, SUMMARY_COLUMNS, SUMMARY_INT_COLUMNS, SUMMARY_STR_COLUMNS)
    for row in rows:
        row["best_method"] = row["best_method"] or None
        for key in SUMMARY_COUNT_COLUMNS:
            if math.isnan(row[key]) and key != "n_train":
                raise InputError(f"{path}: column {key!r} has an empty cell")
            row[key] = None if math.isnan(row[key]) else _count(row[key])
    return rows


def read_benchmarks_summary(path: str | Path) -> list[dict]:
    return _read_csv(path, BENCHMARK_COLUMNS, BENCHMARK_INT_COLUMNS, BENCHMARK_STR_COLUMNS)


# ---- the summary


def split_scheme(split: str) -> str:
    """Scheme of a split: "random:<seed>" -> "repeated"; a fixed split is its own scheme."""
    if split.startswith(RANDOM_SPLIT_PREFIX):
        if not split[len(RANDOM_SPLIT_PREFIX) :].isdigit():
            raise InputError(f"split {split!r}: expected 'random:<integer seed>'")
        return REPEATED
    if not split or ":" in split:
        raise InputError(f"split {split!r}: expected a fixed split name or 'random:<seed>'")
    return split


SEED_MARK = "@seed="  # a replicate of a fixed split: one random standard selection


def _split_order(split: str) -> tuple:
    if split.startswith(RANDOM_SPLIT_PREFIX):
        return (1, int(split[len(RANDOM_SPLIT_PREFIX) :]), "")
    name, _, seed = split.partition(SEED_MARK)
    return (0, int(seed or 0), name)


def method_order(method: str) -> tuple:
    """Sort key: the registry's order, names it does not know after it (alphabetically)."""
    names = list(METHOD_CLASSES)
    return (names.index(method), "") if method in names else (len(names), method)


def _is_reference_candidate(method: str) -> bool:
    return method in CLASSICAL_METHODS and method != REFERENCE_EXCLUDED


def _defined(value) -> bool:
    return value is not None and math.isfinite(float(value))


def _mean(values) -> float:
    """Mean; NaN if there is nothing to average or any value is undefined."""
    values = np.asarray(values, dtype=float)
    return float(values.mean()) if len(values) else math.nan


def corrected_t_interval(
    values, n_test: float, n_train: float, level: float = LEVEL
) -> tuple[float, float]:
    """Nadeau & Bengio's corrected resampled t interval for the mean of `values`, one per random
    split: mean +- t(level, R-1) * sqrt((1/R + n_test/n_train) * s^2), s^2 the sample variance.
    (NaN, NaN) for fewer than two values or any undefined one."""
    values = np.asarray(values, dtype=float)
    r = len(values)
    if r < 2 or not np.all(np.isfinite(values)):
        return math.nan, math.nan
    if n_test < 0 or n_train < 1:
        raise InputError(f"corrected interval: n_test={n_test} >= 0, n_train={n_train} >= 1")
    variance = (1.0 / r + n_test / n_train) * float(values.var(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, r - 1)) * math.sqrt(variance)
    mean = float(values.mean())
    return mean - half, mean + half


def paired_bootstrap_ratio(
    method_values, best_values, samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """95% percentile interval of mean(method)/mean(best) over splits resampled with replacement
    (the same resampled splits for both: paired). (NaN, NaN) for fewer than two splits."""
    method_values = np.asarray(method_values, dtype=float)
    best_values = np.asarray(best_values, dtype=float)
    r = len(method_values)
    if r < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    index = rng.integers(0, r, size=(samples, r))
    ratios = method_values[index].mean(axis=1) / best_values[index].mean(axis=1)
    lo, hi = np.percentile(ratios, [100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2])
    return float(lo), float(hi)


def _paired_split_means(runs: dict, best_runs: dict) -> tuple[list[float], list[float]]:
    """Split means of rmsep of two methods over the splits both have, each over the seeds both
    have in that split. `runs`: {split: {seed: row}}."""
    mine, theirs = [], []
    for split in sorted(set(runs) & set(best_runs), key=_split_order):
        seeds = sorted(set(runs[split]) & set(best_runs[split]))
        if seeds:
            mine.append(_mean([runs[split][s]["rmsep"] for s in seeds]))
            theirs.append(_mean([best_runs[split][s]["rmsep"] for s in seeds]))
    return mine, theirs


def _calibration_sizes(rows: list[dict]) -> dict[tuple, float]:
    """Mean calibration size of the random splits per (dataset, source, target, property): the
    n_transfer of the target_full rows, which use the whole calibration set (selection "none")."""
    found: dict[tuple, dict[str, int]] = defaultdict(dict)
    for row in rows:
        if (
            row["method"] == REFERENCE_EXCLUDED
            and row["selection"] == "none"
            and split_scheme(row["split"]) == REPEATED
        ):
            key = (row["dataset"], row["source"], row["target"], row["property"])
            found[key][row["split"]] = int(row["n_transfer"])
    return {key: _mean(list(by_split.values())) for key, by_split in found.items()}


def _count(value: float) -> int | float:
    """A mean of counts: an int when it is one (the usual case), else the float."""
    return int(value) if float(value).is_integer() else float(value)


def summarise(rows: list[dict], path: str | Path, n_train: int | None = None) -> list[dict]:
    """One summary row per (dataset, pair, property, method, N, selection, scheme), columns
    SUMMARY_COLUMNS (see the module docstring), written to `path` and returned.

    `n_train`: calibration size of a random split, used for the corrected interval of a
    (dataset, pair, property) without target_full rows to read it from."""
    groups: dict[tuple, dict[str, dict[int, dict]]] = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        named = {c: row[c] for c in SUMMARY_KEYS[:-1]}
        named["scheme"] = split_scheme(row["split"])
        if row["selection"] == "none":
            # No standards: N is 0 or the whole calibration set (target_full), whose size can
            # differ between random splits where references are missing. One group; its
            # n_transfer is the mean over splits.
            named["n_transfer"] = None
        key = tuple(named[c] for c in SUMMARY_KEYS)
        # The replicate: a random split; on the fixed split, each random standard selection
        # (the tablet has one split and repeats over selections).
        unit = row["split"]
        if named["scheme"] != REPEATED and row["selection"] == "random":
            unit = f"{row['split']}{SEED_MARK}{row['seed']}"
        runs = groups[key][unit]
        if row["seed"] in runs:
            raise InputError(
                f"duplicate experiment: {dict(zip(SUMMARY_KEYS, key, strict=True))}, "
                f"split {row['split']}, seed {row['seed']}"
            )
        runs[row["seed"]] = row
    sizes = _calibration_sizes(rows)

    def order(key: tuple) -> tuple:
        named = dict(zip(SUMMARY_KEYS, key, strict=True))
        return (
            *(named[c] for c in ("dataset", "source", "target", "property", "scheme")),
            named["selection"],
            -1 if named["n_transfer"] is None else named["n_transfer"],
            method_order(named["method"]),
        )

    summary: dict[tuple, dict] = {}
    for key in sorted(groups, key=order):
        summary[key] = _summarise_group(key, groups[key], sizes.get(key[:4], n_train))

    cells: dict[tuple, list[tuple]] = defaultdict(list)
    for key, row in summary.items():
        cells[tuple(row[c] for c in CELL_KEYS)].append(key)
    for members in cells.values():
        _compare(members, summary, groups)

    out = list(summary.values())
    write_summary(out, path)
    return out


def _summarise_group(
    key: tuple, runs: dict[str, dict[int, dict]], calibration_size: float | None
) -> dict:
    named = dict(zip(SUMMARY_KEYS, key, strict=True))
    splits = sorted(runs, key=_split_order)
    all_rows = [runs[split][seed] for split in splits for seed in sorted(runs[split])]
    split_means = {
        metric: [_mean([runs[split][s][metric] for s in sorted(runs[split])]) for split in splits]
        for metric in ["rmsep", *MEAN_METRICS]
    }

    def split_mean(column: str) -> int | float:
        """Mean over splits of a count (e.g. n_test), an int when the count never varies."""
        return _count(_mean([_mean([runs[sp][s][column] for s in runs[sp]]) for sp in splits]))

    n_test = split_mean("n_test")

    n_train = None
    lo = hi = math.nan
    if named["scheme"] == REPEATED:
        n_train = None if calibration_size is None else _count(calibration_size)
        if len(splits) >= 2:
            if n_train is None:
                raise InputError(
                    f"{named['dataset']} {named['source']}->{named['target']} "
                    f"{named['property']}: the corrected interval over random splits needs the "
                    "calibration size; there are no target_full rows and no n_train was given"
                )
            lo, hi = corrected_t_interval(split_means["rmsep"], n_test, n_train)
    elif len(splits) >= 2:
        # Selections on one fixed split share its test set: a plain t interval over them shows
        # how much the choice of standards moves RMSEP, not the test set's sampling error.
        lo, hi = corrected_t_interval(split_means["rmsep"], 0.0, 1.0)

    # An infinite CV+ interval (too few residuals for its rank) has no coverage to report.
    with_interval = [row for row in all_rows if _defined(row["picp90"]) and _defined(row["mpiw90"])]
    out = dict(named)
    out.update(
        n_transfer=split_mean("n_transfer"),
        n_splits=len(splits),
        n_runs=len(all_rows),
        n_test=n_test,
        n_train=n_train,
        rmsep_mean=_mean(split_means["rmsep"]),
        rmsep_lo=lo,
        rmsep_hi=hi,
        **{f"{metric}_mean": _mean(split_means[metric]) for metric in MEAN_METRICS},
        picp90_mean=_mean([row["picp90"] for row in with_interval]),
        mpiw90_mean=_mean([row["mpiw90"] for row in with_interval]),
        n_interval_runs=len(with_interval),
        best_method=None,
        ratio_to_best=math.nan,
        ratio_lo=math.nan,
        ratio_hi=math.nan,
        wins=None,
        n_paired=None,
    )
    return out


def _compare(members: list[tuple], summary: dict, groups: dict) -> None:
    """Fill the comparison columns of the summary rows of one cell (in place)."""
    if len(members) < 2:
        return
    candidates = [
        key
        for key in members
        if _is_reference_candidate(summary[key]["method"])
        and math.isfinite(summary[key]["rmsep_mean"])
    ]
    if not candidates:
        return
    best = min(
        candidates,
        key=lambda k: (summary[k]["rmsep_mean"], method_order(summary[k]["method"])),
    )
    for key in members:
        row = summary[key]
        row["best_method"] = summary[best]["method"]
        if key == best:
            row.update(ratio_to_best=1.0, n_paired=row["n_splits"])
            continue
        mine, theirs = _paired_split_means(groups[key], groups[best])
        row["n_paired"] = len(mine)
        if not mine:
            continue
        row["ratio_to_best"] = _mean(mine) / _mean(theirs)
        row["wins"] = int(np.sum(np.asarray(mine) < np.asarray(theirs)))
        row["ratio_lo"], row["ratio_hi"] = paired_bootstrap_ratio(mine, theirs)


# ---- views of the summary for the report


def preferred_scheme(summary: list[dict]) -> str | None:
    """The scheme a report shows: the repeated splits when there are any, else the fixed split."""
    schemes = {row["scheme"] for row in summary}
    if REPEATED in schemes:
        return REPEATED
    if "kennard_stone" in schemes:
        return "kennard_stone"
    return min(schemes) if schemes else None


def method_ranking(summary: list[dict], scheme: str | None = None) -> list[dict]:
    """Per method over the cells (of `scheme`, or all) that hold at least two methods: `n_cells`,
    `mean_rank` (rank by rmsep_mean within the cell, 1 = lowest, ties averaged), `wins` (splits
    won against the cell's best classical method, summed) and `n_paired` (splits compared).
    Ordered by mean rank."""
    cells: dict[tuple, list[dict]] = defaultdict(list)
    for row in summary:
        if (scheme is None or row["scheme"] == scheme) and math.isfinite(row["rmsep_mean"]):
            cells[tuple(row[c] for c in CELL_KEYS)].append(row)
    ranks: dict[str, list[float]] = defaultdict(list)
    wins: dict[str, int] = defaultdict(int)
    paired: dict[str, int] = defaultdict(int)
    for key in sorted(cells, key=lambda k: tuple(str(v) for v in k)):
        members = sorted(cells[key], key=lambda r: method_order(r["method"]))
        if len(members) < 2:
            continue
        for row, rank in zip(
            members, stats.rankdata([r["rmsep_mean"] for r in members]), strict=True
        ):
            ranks[row["method"]].append(float(rank))
            if row["wins"] is not None:
                wins[row["method"]] += row["wins"]
                paired[row["method"]] += row["n_paired"]
    out = [
        {
            "method": method,
            "n_cells": len(values),
            "mean_rank": _mean(values),
            "wins": wins[method],
            "n_paired": paired[method],
        }
        for method, values in ranks.items()
    ]
    return sorted(out, key=lambda r: (r["mean_rank"], method_order(r["method"])))


def benchmarks_summary(
    summary_paths: list[str | Path], path: str | Path, n_values=(5, 10, 20)
) -> list[dict]:
    """One table over all datasets: per dataset / pair / property / N in `n_values` / selection /
    scheme, the best classical method with its rmsep_mean and interval, and one row per other
    method with its ratio to the best, the ratio's interval and its wins. Columns
    BENCHMARK_COLUMNS; written to `path` and returned."""
    out = []
    for summary_path in summary_paths:
        summary = read_summary(summary_path)
        cells: dict[tuple, list[dict]] = defaultdict(list)
        for row in summary:
            if row["n_transfer"] in n_values and row["best_method"] is not None:
                cells[tuple(row[c] for c in CELL_KEYS)].append(row)
        for key in cells:  # in the summary's own (sorted) order
            members = cells[key]
            best = next(r for r in members if r["method"] == r["best_method"])
            for row in members:
                if row is best:
                    continue
                entry = {c: row[c] for c in CELL_KEYS}
                entry.update(
                    best_method=best["method"],
                    best_rmsep_mean=best["rmsep_mean"],
                    best_rmsep_lo=best["rmsep_lo"],
                    best_rmsep_hi=best["rmsep_hi"],
                    method=row["method"],
                    rmsep_mean=row["rmsep_mean"],
                    rmsep_lo=row["rmsep_lo"],
                    rmsep_hi=row["rmsep_hi"],
                    ratio_to_best=row["ratio_to_best"],
                    ratio_lo=row["ratio_lo"],
                    ratio_hi=row["ratio_hi"],
                    wins=row["wins"],
                    n_paired=row["n_paired"],
                )
                out.append(entry)
    _write_csv(path, BENCHMARK_COLUMNS, out)
    return out


# ---- the headline table


def _decimals(value: float) -> int:
    """Decimals that show `value` with three significant digits (at least none)."""
    if not math.isfinite(value) or value == 0:
        return 3
    return max(0, 2 - math.floor(math.log10(abs(value))))


def _estimate(row: dict, decimals: int) -> str:
    text = f"{row['rmsep_mean']:.{decimals}f}"
    if math.isfinite(row["rmsep_lo"]) and math.isfinite(row["rmsep_hi"]):
        text += f" [{row['rmsep_lo']:.{decimals}f}, {row['rmsep_hi']:.{decimals}f}]"
    return text


def headline(summary: list[dict], n: int = 10, selection: str = "kennard_stone") -> dict:
    """What the headline table shows: RMSEP at N = `n` (the N nearest to it that was run) with
    `selection` standards, on the preferred scheme, per pair x property and method (plus the
    methods that use no standards, no_transfer and target_full), the best marked; the ranking."""
    scheme = preferred_scheme(summary)
    rows = [r for r in summary if r["scheme"] == scheme and math.isfinite(r["rmsep_mean"])]
    selections = {r["selection"] for r in rows if r["selection"] != "none"}
    if selection not in selections and selections:
        selection = sorted(selections)[0]
    ns = sorted({r["n_transfer"] for r in rows if r["selection"] == selection})
    if ns:
        n = min(ns, key=lambda v: (abs(v - n), v))
    shown = [
        r
        for r in rows
        if (r["selection"] == selection and r["n_transfer"] == n) or r["selection"] == "none"
    ]
    methods = sorted({r["method"] for r in shown}, key=method_order)
    lines = []
    for pair_property in sorted({(r["source"], r["target"], r["property"]) for r in shown}):
        cells: dict[str, dict] = {}
        for r in shown:
            if (r["source"], r["target"], r["property"]) != pair_property:
                continue
            if r["method"] in cells:
                raise InputError(
                    f"headline: {r['method']} has several rows for {pair_property} "
                    "(a method without standards run at several N?)"
                )
            cells[r["method"]] = r
        with_standards = [r for r in cells.values() if r["selection"] != "none"]
        lowest = min((r["rmsep_mean"] for r in with_standards), default=math.nan)
        best = sorted(
            (r["method"] for r in with_standards if r["rmsep_mean"] == lowest),
            key=method_order,
        )
        # Three significant digits of the best value (of the smallest when none uses standards).
        scale = lowest if with_standards else min(r["rmsep_mean"] for r in cells.values())
        decimals = _decimals(scale)
        lines.append(
            {
                "source": pair_property[0],
                "target": pair_property[1],
                "property": pair_property[2],
                "cells": {m: _estimate(r, decimals) for m, r in cells.items()},
                "best": best,
            }
        )
    n_splits = sorted({r["n_splits"] for r in shown if r["selection"] == selection})
    return {
        "scheme": scheme,
        "n": n,
        "selection": selection,
        "n_splits": n_splits,
        "methods": methods,
        "lines": lines,
        "ranking": method_ranking(summary, scheme),
    }


def _describe(table: dict, dataset: str) -> list[str]:
    n_splits = table["n_splits"]
    if not n_splits:
        return [f"{dataset}: no results."]
    splits = str(n_splits[0]) if len(n_splits) == 1 else f"{n_splits[0]}-{n_splits[-1]}"
    if table["scheme"] == REPEATED:
        where = (
            f"mean over {splits} repeated random calibration/test splits, with the 95% corrected "
            "resampled t interval (Nadeau & Bengio 2003) in brackets"
        )
    else:
        where = f"the fixed {table['scheme']} split (one split: no interval)"
    return [
        f"{dataset}: RMSEP at N = {table['n']} ({table['selection']} standards), {where}.",
        "Bold: the lowest mean among the methods that use the standards. no_transfer and "
        "target_full use none (N = 0 and the whole target calibration set) and are shown for "
        "reference.",
    ]


def _ranking_cells(row: dict) -> list[str]:
    return [
        row["method"],
        str(row["n_cells"]),
        f"{row['mean_rank']:.2f}",
        f"{row['wins']} / {row['n_paired']}" if row["n_paired"] else "n/a",
    ]


RANKING_HEADER = ["method", "cells", "mean rank", "wins / splits compared"]
RANKING_NOTE = (
    "Method ranking over every (pair, property, N, selection) cell of the same splits with at "
    "least two methods: "
    "mean rank by mean RMSEP within the cell (1 = lowest, ties averaged); wins: splits on which "
    "the method's RMSEP was below that of the cell's best classical method (n/a for a method "
    "that is itself the best wherever it is compared)."
)


def _rst_table(header: list[str], body: list[list[str]]) -> list[str]:
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header, *body]:
        lines.append(f"   * - {row[0]}")
        lines += [f"     - {cell}" for cell in row[1:]]
    return lines + [""]


def write_headline(
    summary: list[dict],
    rst_path: str | Path,
    html_path: str | Path | None = None,
    *,
    dataset: str,
    n: int = 10,
    selection: str = "kennard_stone",
) -> dict:
    """The headline table of one dataset as reStructuredText (and as HTML for the Snakemake
    report): see `headline`. Returns what `headline` returns."""
    table = headline(summary, n, selection)
    header = ["pair", "property", *table["methods"]]
    body = []
    for line in table["lines"]:
        cells = []
        for method in table["methods"]:
            text = line["cells"].get(method, "n/a")
            cells.append(f"**{text}**" if method in line["best"] else text)
        body.append([f"{line['source']} -> {line['target']}", line["property"], *cells])
    title = f"{dataset}: headline results"
    rst = [title, "=" * len(title), "", *_describe(table, dataset), ""]
    rst += _rst_table(header, body)
    rst += [RANKING_NOTE, ""]
    rst += _rst_table(RANKING_HEADER, [_ranking_cells(r) for r in table["ranking"]])
    with atomic_path(rst_path) as tmp:
        Path(tmp).write_text("\n".join(rst))
    if html_path is not None:
        with atomic_path(html_path) as tmp:
            Path(tmp).write_text(_headline_html(table, dataset, header))
    return table


def _html_table(header: list[str], body: list[list[str]]) -> list[str]:
    lines = ["<table>", "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"]
    for row in body:
        lines.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>")
    return lines + ["</table>"]


def _headline_html(table: dict, dataset: str, header: list[str]) -> str:
    body = []
    for line in table["lines"]:
        cells = []
        for method in table["methods"]:
            text = html.escape(line["cells"].get(method, "n/a"))
            cells.append(f"<strong>{text}</strong>" if method in line["best"] else text)
        pair = html.escape(f"{line['source']} -> {line['target']}")
        body.append([pair, html.escape(line["property"]), *cells])
    ranking = [[html.escape(c) for c in _ranking_cells(r)] for r in table["ranking"]]
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{html.escape(dataset)}: headline results</title>",
        "<style>body{font-family:sans-serif;font-size:13px}"
        "table{border-collapse:collapse;margin:8px 0}"
        "th,td{border:1px solid #bbb;padding:3px 6px;white-space:nowrap}"
        "th{background:#eee}</style>",
        "</head><body>",
        f"<h2>{html.escape(dataset)}: headline results</h2>",
        *[f"<p>{html.escape(text)}</p>" for text in _describe(table, dataset)],
        *_html_table(header, body),
        f"<p>{html.escape(RANKING_NOTE)}</p>",
        *_html_table(RANKING_HEADER, ranking),
        "</body></html>",
        "",
    ]
    return "\n".join(parts)
