from _setup import setup

log = setup(snakemake)  # noqa: F821

from spectralfm.figures import plot_rmsep_vs_n  # noqa: E402
from spectralfm.results import read_rows  # noqa: E402

dataset = snakemake.wildcards.dataset  # noqa: F821
plot_rmsep_vs_n(read_rows(snakemake.input[0]), snakemake.output[0], title=f"{dataset}: RMSEP vs N")  # noqa: F821
