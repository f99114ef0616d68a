import json
import time
from pathlib import Path

from _setup import setup

log = setup(snakemake)  # noqa: F821

from spectralfm.atomic import atomic_path  # noqa: E402
from spectralfm.download import RawFile, fetch, file_sha256, resolve_mirror  # noqa: E402

sm = snakemake  # noqa: F821
raw = RawFile(**sm.params.raw)
mirror = resolve_mirror(None)  # SPECTRALFM_MIRROR, set by the workflow from config data.mirror
log.info("fetching %s/%s (mirror: %s)", raw.source, raw.name, mirror or "none, canonical URL")
path = fetch(raw, sm.output.raw, mirror=mirror, progress=True)
record = {
    "source": raw.source,
    "name": raw.name,
    "url": raw.url,
    "size": Path(path).stat().st_size,
    "sha256": file_sha256(path),
    "published_sha256": raw.sha256,
    "published_md5": raw.md5,
    "fetched_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
}
with atomic_path(sm.output.manifest) as tmp:
    tmp.write_text(json.dumps(record, indent=2) + "\n")
log.info("done: %s", record)
