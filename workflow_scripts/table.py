from _setup import setup

log = setup(snakemake)  # noqa: F821

from spectralfm.results import combine, summarise  # noqa: E402

rows = combine(list(snakemake.input), snakemake.output.table)  # noqa: F821
summary = summarise(rows, snakemake.output.summary)  # noqa: F821
log.info("%d rows, %d summary rows", len(rows), len(summary))
