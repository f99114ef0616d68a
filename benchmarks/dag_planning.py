"""Time a dry run of the full default DAG (all sources, all experiments): budget < 2 s.

    python benchmarks/dag_planning.py [--repeats 3]

Prints, per `snakemake -n` run, the wall time, the CPU time (user + system: what a busy machine
does not inflate) and the job count it planned; then the same for a one-rule workflow, Snakemake's
own start-up, which no change to this workflow can remove. The dry run is done in a scratch working
directory, so nothing is downloaded and every job is planned.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ONE_RULE = 'rule all:\n    output:\n        "a",\n    shell:\n        "touch {output}"\n'


def dry_run(snakefile: Path, workdir: Path) -> tuple[float, float, str]:
    """(wall s, CPU s, jobs planned) of one `snakemake -n` in `workdir`."""
    before = os.times()
    start = time.perf_counter()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "--quiet",
            "rules",
            "--snakefile",
            str(snakefile),
            "--directory",
            str(workdir),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    total = re.search(r"^total\s+(\d+)", out.stdout + out.stderr, flags=re.M)
    return wall, cpu, total.group(1) if total else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        shutil.copy(REPO / "config.yaml", work / "config.yaml")
        floor = Path(tmp) / "floor"
        floor.mkdir()
        (floor / "Snakefile").write_text(ONE_RULE)
        for name, snakefile, workdir in (
            ("full DAG", REPO / "Snakefile", work),
            ("one-rule floor", floor / "Snakefile", floor),
        ):
            for i in range(args.repeats):
                shutil.rmtree(workdir / ".snakemake", ignore_errors=True)
                wall, cpu, jobs = dry_run(snakefile, workdir)
                print(
                    f"{name}, run {i + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU, {jobs} jobs planned"
                )


if __name__ == "__main__":
    main()
