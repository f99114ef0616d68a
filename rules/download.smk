# Downloads and extraction carry no code fingerprint: their outputs are bytes checked against
# published or pinned checksums (or, where a publisher gives none, recorded in the manifest), so no
# edit of the downloader can change them, and editing it must not fetch gigabytes again.


rule download:
    """One raw file from its canonical URL or the mirror: resumable, retried, checksum-verified."""
    output:
        raw="resources/raw/{source}/{file}",
        # size and sha256 as fetched: the record for sources that publish no checksum (RRUFF)
        manifest="resources/manifests/{source}/{file}.json",
    log:
        "logs/download/{source}/{file}.log",
    conda:
        "../envs/data.yaml"
    params:
        raw=lambda wildcards: raw_file(wildcards.source, wildcards.file).__dict__,
    script:
        "../workflow_scripts/download.py"


rule extract:
    """One member of a downloaded archive, safely extracted and checked against its pinned sha256."""
    input:
        lambda wildcards: "resources/raw/{0.source}/{0.name}".format(
            extracted_member(wildcards.source, wildcards.member).raw
        ),
    output:
        "resources/extracted/{source}/{member}",
    log:
        "logs/extract/{source}/{member}.log",
    conda:
        "../envs/data.yaml"
    params:
        sha256=lambda wildcards: extracted_member(
            wildcards.source, wildcards.member
        ).sha256,
    script:
        "../workflow_scripts/extract.py"
