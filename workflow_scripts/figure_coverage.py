from _setup import setup

log = setup(snakemake)  # noqa: F821

from spectralfm.figures import plot_coverage  # noqa: E402
from spectralfm.results import read_summary  # noqa: E402

sm = snakemake  # noqa: F821
dataset = sm.wildcards.dataset
plot_coverage(read_summary(sm.input[0]), sm.output[0], title=f"{dataset}: 90% interval coverage")
