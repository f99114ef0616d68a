"""What pretraining buys SpectralFM on corn: the ablation of issue 9, on 2 CPU cores.

Two arms through the real workflow (profiles/ablation): the tiny model pretrained on the NIR +
simulated-pair corpus (RRUFF Raman, the nirdata NIR sets, the dough spectra), and the same
pretraining on the Raman-only corpus (profiles/ablation/raman_ir.yaml). The classical and scratch
rows do not depend on the corpus, so the second arm reruns only the corpus, the pretraining and
the SpectralFM transfer jobs. Then, per pair and N, over the 10 random splits, paired ratios of
mean RMSEP with 95% paired bootstrap intervals (spectralfm.results.paired_bootstrap_ratio):

    spectralfm (NIR + pairs) / spectralfm_scratch
    spectralfm (NIR + pairs) / spectralfm (Raman only)
    spectralfm (NIR + pairs) / the best tuned classical method of the cell

    SPECTRALFM_MIRROR=../shared/data/mirror python benchmarks/pretraining_ablation.py
    python benchmarks/pretraining_ablation.py --steps 600    # a shorter pretraining per arm

Writes benchmarks/out/ablation/{nir_pairs,raman_only}_corn_transfer.csv (the tables),
*_metrics.jsonl (the pretraining logs) and comparison.csv, and prints the comparison.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from spectralfm.results import (
    RANDOM_SPLIT_PREFIX,
    REFERENCE_EXCLUDED,
    paired_bootstrap_ratio,
    read_rows,
)
from spectralfm.transfer.registry import is_foundation

REPO = Path(__file__).resolve().parents[1]
TABLE = "results/tables/corn_transfer.csv"
ARMS = {
    "nir_pairs": ["config.yaml", "profiles/ablation/overrides.yaml"],
    "raman_only": [
        "config.yaml",
        "profiles/ablation/overrides.yaml",
        "profiles/ablation/raman_ir.yaml",
    ],
}
RAMAN = "spectralfm(raman_only)"


def run_arm(name: str, configfiles: list[str], steps: int | None, out: Path) -> Path:
    cmd = [sys.executable, "-m", "snakemake", "--profile", "profiles/ablation", TABLE]
    if steps is not None:
        # --config replaces the whole `pretrain` block: repeat it with the new step count
        import yaml

        block = {}
        for f in configfiles:
            block.update(yaml.safe_load((REPO / f).read_text()).get("pretrain", {}) or {})
        block["train"] = {**block["train"], "steps": steps}
        cmd += ["--config", f"pretrain={json.dumps(block)}"]
    cmd += ["--configfiles", *configfiles]  # last: the option takes every argument after it
    start = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True)
    print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)
    shutil.copy2(REPO / TABLE, out / f"{name}_corn_transfer.csv")
    shutil.copy2(REPO / "results/pretrain/metrics.jsonl", out / f"{name}_metrics.jsonl")
    return out / f"{name}_corn_transfer.csv"


def split_means(rows: list[dict]) -> dict[tuple, dict[str, dict[str, float]]]:
    """{(pair, property, N): {method: {split: rmsep}}} over the random splits."""
    cells: dict[tuple, dict] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        if str(r["split"]).startswith(RANDOM_SPLIT_PREFIX) and np.isfinite(r["rmsep"]):
            key = (f"{r['source']}->{r['target']}", r["property"], int(r["n_transfer"]))
            cells[key][r["method"]][r["split"]] = float(r["rmsep"])
    return cells


def ratio(mine: dict, theirs: dict) -> tuple[float, float, float, int]:
    splits = sorted(set(mine) & set(theirs))
    a = np.array([mine[s] for s in splits])
    b = np.array([theirs[s] for s in splits])
    lo, hi = paired_bootstrap_ratio(a, b)
    return float(a.mean() / b.mean()), lo, hi, int(np.sum(a < b))


def compare(nir_rows: list[dict], raman_rows: list[dict]) -> list[dict]:
    rows = list(nir_rows) + [
        {**r, "method": RAMAN} for r in raman_rows if r["method"] == "spectralfm"
    ]
    out = []
    for (pair, prop, n), methods in sorted(split_means(rows).items()):
        classical = {
            m: v for m, v in methods.items() if not is_foundation(m) and m != REFERENCE_EXCLUDED
        }
        best = min(classical, key=lambda m: np.mean(list(classical[m].values())))
        references = {
            "spectralfm_scratch": "spectralfm_scratch",
            RAMAN: RAMAN,
            f"best classical ({best})": best,
        }
        for label, reference in references.items():
            if "spectralfm" not in methods or reference not in methods:
                continue
            r, lo, hi, wins = ratio(methods["spectralfm"], methods[reference])
            out.append(
                {
                    "pair": pair,
                    "property": prop,
                    "n_transfer": n,
                    "reference": label,
                    "spectralfm_rmsep": np.mean(list(methods["spectralfm"].values())),
                    "reference_rmsep": np.mean(list(methods[reference].values())),
                    "ratio": r,
                    "ratio_lo": lo,
                    "ratio_hi": hi,
                    "wins": wins,
                    "n_splits": len(set(methods["spectralfm"]) & set(methods[reference])),
                }
            )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--steps", type=int, default=None, help="pretraining steps per arm")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks/out/ablation")
    p.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS),
                   help="run only these arms (the others' saved tables are reused)")  # fmt: skip
    p.add_argument("--compare-only", action="store_true", help="reuse the arms' saved tables")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    tables = {name: args.out / f"{name}_corn_transfer.csv" for name in ARMS}
    if not args.compare_only:
        for name in args.arms:
            tables[name] = run_arm(name, ARMS[name], args.steps, args.out)
    result = compare(read_rows(tables["nir_pairs"]), read_rows(tables["raman_only"]))
    with open(args.out / "comparison.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(result[0]))
        writer.writeheader()
        writer.writerows(result)
    print(
        f"{'pair':10} {'N':>3}  {'spectralfm vs':32} {'RMSEP':>7} {'ref':>7} {'ratio [95%]':>22} wins"
    )
    for r in result:
        print(
            f"{r['pair']:10} {r['n_transfer']:>3}  {r['reference']:32} {r['spectralfm_rmsep']:7.3f} "
            f"{r['reference_rmsep']:7.3f} {r['ratio']:6.3f} [{r['ratio_lo']:.3f}, "
            f"{r['ratio_hi']:.3f}] {r['wins']:>2}/{r['n_splits']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
