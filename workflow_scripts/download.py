from _setup import setup

log = setup(snakemake)  # noqa: F821

from spectralfm.download import RawFile, fetch_and_record, resolve_mirror  # noqa: E402

sm = snakemake  # noqa: F821
raw = RawFile(**sm.params.raw)
mirror = resolve_mirror(None)  # SPECTRALFM_MIRROR, set by the workflow from config data.mirror
log.info("fetching %s/%s (mirror: %s)", raw.source, raw.name, mirror or "none, canonical URL")
record = fetch_and_record(raw, sm.output.raw, sm.output.manifest, mirror=mirror, progress=True)
log.info("done: %s", record)
