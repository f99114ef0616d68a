import tempfile
import zipfile
from pathlib import Path

from _setup import setup

log = setup(snakemake)  # noqa: F821

from spectralfm.download import safe_extract  # noqa: E402
from spectralfm.sources import read_source, write_parsed_shard  # noqa: E402

sm = snakemake  # noqa: F821
source, path = sm.wildcards.source, Path(sm.input[0])
options = dict(sm.params.options)


def records():
    # Multimodal ships its parquet shards inside one zip: read them one at a time.
    if source == "multimodal" and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            members = sorted(n for n in archive.namelist() if n.endswith(".parquet"))
        for member in members:
            with tempfile.TemporaryDirectory(dir=Path(sm.output.shard).parent) as tmp:
                (extracted,) = safe_extract(path, Path(tmp), members=[member])
                yield from read_source(source, extracted, **options)
    else:
        yield from read_source(source, path, **options)


Path(sm.output.shard).parent.mkdir(parents=True, exist_ok=True)
counts = write_parsed_shard(sm.output.shard, records())
log.info("%s/%s: %s", source, sm.wildcards.item, counts)
