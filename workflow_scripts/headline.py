from _setup import setup

log = setup(snakemake)  # noqa: F821

from spectralfm.results import read_summary, write_headline  # noqa: E402

sm = snakemake  # noqa: F821
table = write_headline(
    read_summary(sm.input[0]),
    sm.output.rst,
    sm.output.html,
    dataset=sm.wildcards.dataset,
    n=sm.params.n,
    selection=sm.params.selection,
)
log.info(
    "headline at N=%s (%s standards, scheme %s): %d rows",
    table["n"],
    table["selection"],
    table["scheme"],
    len(table["lines"]),
)
