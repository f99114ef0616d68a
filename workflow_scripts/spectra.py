from _setup import setup

log = setup(snakemake)  # noqa: F821

from spectralfm.preprocess import process_shard  # noqa: E402

sm = snakemake  # noqa: F821
counts = process_shard(sm.input[0], sm.output.shard, sm.output.quarantine)
log.info("%s/%s: %s", sm.wildcards.source, sm.wildcards.item, counts)
