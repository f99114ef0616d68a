"""Time a dry run of the full default DAG (all sources, all experiments): issue budget < 10 s.

    python benchmarks/dag_planning.py [--repeats 3]

Prints the wall time of each `snakemake -n` run and the job count it planned. The dry run is done
in a scratch working directory, so nothing is downloaded and every job is planned.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(REPO / "config.yaml", Path(tmp) / "config.yaml")
        for i in range(args.repeats):
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
                    str(REPO / "Snakefile"),
                    "--directory",
                    tmp,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            seconds = time.perf_counter() - start
            total = re.search(r"^total\s+(\d+)", out.stdout + out.stderr, flags=re.M)
            print(f"run {i + 1}: {seconds:.2f} s, {total.group(1) if total else '?'} jobs planned")


if __name__ == "__main__":
    main()
