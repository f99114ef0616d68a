"""The results table: per-job parts combined into one CSV, and its summary over seeds."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from spectralfm.atomic import atomic_path
from spectralfm.errors import InputError
from spectralfm.transfer.protocol import ROW_COLUMNS

METRICS = ["rmsep", "r2", "bias", "sep", "rpd", "slope", "picp90", "mpiw90", "fit_seconds"]
GROUP_COLUMNS = ["dataset", "source", "target", "property", "method", "n_transfer", "selection"]
INT_COLUMNS = {"n_transfer", "seed", "n_test"}


def write_rows(rows: list[dict], path: str | Path) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=ROW_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def read_rows(path: str | Path) -> list[dict]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != ROW_COLUMNS:
            raise InputError(
                f"{path}: columns {reader.fieldnames} are not the table's {ROW_COLUMNS}"
            )
        rows = []
        for row in reader:
            for key in ROW_COLUMNS:
                if key in INT_COLUMNS:
                    row[key] = int(row[key])
                elif key in METRICS:
                    row[key] = float(row[key])
            rows.append(row)
    return rows


def combine(parts: list[str | Path], path: str | Path) -> list[dict]:
    """Concatenate per-job parts in a stable order (the order of `parts`)."""
    rows = [row for part in parts for row in read_rows(part)]
    write_rows(rows, path)
    return rows


def summarise(rows: list[dict], path: str | Path) -> list[dict]:
    """Mean and sample sd of every metric over seeds, per experiment setting."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[tuple(row[c] for c in GROUP_COLUMNS)].append(row)
    out = []
    for key, members in groups.items():
        summary = dict(zip(GROUP_COLUMNS, key, strict=True))
        summary["n_runs"] = len(members)
        for metric in METRICS:
            values = np.array([m[metric] for m in members], dtype=float)
            summary[f"{metric}_mean"] = float(values.mean())
            summary[f"{metric}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        out.append(summary)
    fields = GROUP_COLUMNS + ["n_runs"] + [f"{m}_{s}" for m in METRICS for s in ("mean", "sd")]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(out)
    return out
