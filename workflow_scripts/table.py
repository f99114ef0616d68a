from _setup import setup

log = setup(snakemake)  # noqa: F821

from spectralfm.results import combine, summarise  # noqa: E402

sm = snakemake  # noqa: F821
rows = combine(list(sm.input), sm.output.table)
summary = summarise(rows, sm.output.summary, n_train=sm.params.n_train)
log.info("%d rows, %d summary rows", len(rows), len(summary))
