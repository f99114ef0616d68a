import tempfile
from pathlib import Path

from _setup import setup

log = setup(snakemake)  # noqa: F821

from spectralfm.download import safe_extract, verify  # noqa: E402

archive, out = Path(snakemake.input[0]), Path(snakemake.output[0])  # noqa: F821
member = out.name
with tempfile.TemporaryDirectory(dir=out.parent, prefix=".extract.") as tmp:
    (extracted,) = safe_extract(archive, Path(tmp), members=[member])
    verify(extracted, sha256=snakemake.params.sha256)  # noqa: F821
    extracted.replace(out)
log.info("extracted %s from %s (sha256 verified)", member, archive)
