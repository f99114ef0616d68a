"""Shared start of every workflow script: the repo's library on the path, output to the rule's log."""

import logging
import os
import sys
from pathlib import Path


def setup(snakemake) -> logging.Logger:
    # The library beside the workflow, also inside conda envs that do not install it.
    sys.path.insert(0, str(Path(snakemake.scriptdir).parent))
    threads = str(snakemake.threads)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = threads  # BLAS must not oversubscribe the cores Snakemake gave the job
    if snakemake.log:
        Path(snakemake.log[0]).parent.mkdir(parents=True, exist_ok=True)
        stream = open(snakemake.log[0], "w", buffering=1)
        sys.stdout = sys.stderr = stream
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        force=True,
    )
    return logging.getLogger(snakemake.rule)
