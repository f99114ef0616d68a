from _setup import setup

log = setup(snakemake)  # noqa: F821

from spectralfm.download import RawFile, fetch, resolve_mirror  # noqa: E402

raw = RawFile(**snakemake.params.raw)  # noqa: F821
mirror = resolve_mirror(None)  # SPECTRALFM_MIRROR, set by the workflow from config data.mirror
log.info("fetching %s/%s (mirror: %s)", raw.source, raw.name, mirror or "none, canonical URL")
fetch(raw, snakemake.output[0], mirror=mirror, progress=True)  # noqa: F821
log.info("done: %s", snakemake.output[0])  # noqa: F821
