from _setup import setup

log = setup(snakemake)  # noqa: F821

from spectralfm.figures import plot_ratio_to_best  # noqa: E402
from spectralfm.results import read_summary  # noqa: E402

sm = snakemake  # noqa: F821
dataset = sm.wildcards.dataset
plot_ratio_to_best(read_summary(sm.input[0]), sm.output[0], title=f"{dataset}: ratio to best")
