from _setup import setup

log = setup(snakemake)  # noqa: F821

from spectralfm.figures import plot_benchmarks_summary  # noqa: E402
from spectralfm.results import benchmarks_summary  # noqa: E402

sm = snakemake  # noqa: F821
rows = benchmarks_summary(list(sm.input), sm.output.table, n_values=tuple(sm.params.n_values))
plot_benchmarks_summary(rows, sm.output.figure, datasets=list(sm.params.datasets))
log.info("%d rows over %d datasets", len(rows), len(sm.params.datasets))
