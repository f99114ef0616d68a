from pathlib import Path

from _setup import setup

log = setup(snakemake)  # noqa: F821

from threadpoolctl import threadpool_limits  # noqa: E402

from spectralfm.datasets import load_benchmark  # noqa: E402
from spectralfm.results import write_rows  # noqa: E402
from spectralfm.transfer.protocol import run_pair  # noqa: E402

sm = snakemake  # noqa: F821
params = dict(sm.params.method_params)
inputs = list(sm.input)
if "pretrained" in sm.input.keys():  # the SpectralFM rule: benchmark files + the pretraining output
    params["pretrained"] = str(Path(sm.input.pretrained[0]).parent)
    inputs = list(sm.input.data)
    if sm.resources.get("gpu", 0) > 0 and "device" not in params:
        import torch

        params["device"] = "cuda" if torch.cuda.is_available() else "cpu"
data = load_benchmark(sm.wildcards.dataset, inputs)
log.info(
    "%s %s->%s method=%s params=%s",
    data.name,
    sm.params.source,
    sm.params.target,
    sm.wildcards.method,
    sm.params.method_params,
)
# The fits are small matrix products: BLAS threads would only compete with the other jobs.
with threadpool_limits(limits=sm.threads, user_api="blas"):
    rows = run_pair(
        data,
        sm.params.source,
        sm.params.target,
        sm.wildcards.method,
        params,
        properties=list(sm.params.properties),
        n_transfer=list(sm.params.n_transfer),
        selections=list(sm.params.selection),
        seeds=list(sm.params.seeds),
        split_scheme=sm.params.split,
        n_calibration=sm.params.n_calibration,
        repeats=sm.params.repeats,
    )
write_rows(rows, sm.output[0])
log.info("%d experiments written to %s", len(rows), sm.output[0])
