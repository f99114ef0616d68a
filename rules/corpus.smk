# Raw public spectra -> parsed records -> resampled+SNV spectra -> augmented -> one HDF5 corpus.
# One job per raw file (shard) at every stage, so --cores scales and a change reruns only its shards.


def corpus_shards():
    """(source, item) of every shard the configured corpus is built from."""
    return [
        (source, item)
        for source in config["corpus"]["sources"]
        for item in source_items(source, config["sources"][source])
    ]


def parse_input(wildcards):
    if wildcards.source == "local":
        return config["sources"]["local"]["paths"][wildcards.item]["path"]
    raw = source_raw_file(wildcards.source, wildcards.item)
    return f"resources/raw/{raw.source}/{raw.name}"


def parse_options(wildcards):
    """Reader options of one shard: the source's settings minus the file lists."""
    settings = config["sources"][wildcards.source]
    if wildcards.source == "local":
        entry = dict(settings["paths"][wildcards.item])
        entry.pop("path")
        return entry
    return dict(settings.get("options") or {})


def exclusion_inputs(wildcards):
    """Benchmark files whose spectra the corpus must never contain (leakage check)."""
    return {
        name: benchmark_inputs(SimpleNamespace(dataset=name))
        for name in config["corpus"]["exclude_benchmarks"]
    }


rule parse:
    """Raw file -> standardized records (x in cm^-1) + a quarantine table of unreadable items."""
    input:
        parse_input,
    output:
        shard="results/parsed/{source}/{item}.parquet",
        quarantine="results/parsed/{source}/{item}.parquet.quarantine.csv",
    log:
        "logs/parse/{source}/{item}.log",
    benchmark:
        "results/benchmarks/parse/{source}/{item}.tsv"
    conda:
        "../envs/data.yaml"
    params:
        options=parse_options,
        code=lambda wildcards: code_fingerprint(
            "spectralfm.sources.record",
            "spectralfm.sources.units",
            f"spectralfm.sources.{wildcards.source}",
        ),
    script:
        "../workflow_scripts/parse.py"


rule spectra:
    """Resample to 2048 points over each spectrum's own range, SNV, QC (rejections quarantined)."""
    input:
        "results/parsed/{source}/{item}.parquet",
    output:
        shard="results/spectra/{source}/{item}.h5",
        quarantine="results/spectra/{source}/{item}.quarantine.csv",
    log:
        "logs/spectra/{source}/{item}.log",
    benchmark:
        "results/benchmarks/spectra/{source}/{item}.tsv"
    conda:
        "../envs/data.yaml"
    params:
        code=code_fingerprint("spectralfm.preprocess"),
    script:
        "../workflow_scripts/spectra.py"


rule augment:
    """Deterministic augmented copies (noise, baseline drift, shift, scale) per shard and seed."""
    input:
        "results/spectra/{source}/{item}.h5",
    output:
        "results/augmented/{source}/{item}.h5",
    log:
        "logs/augment/{source}/{item}.log",
    conda:
        "../envs/data.yaml"
    params:
        augment=config["augment"],
        code=code_fingerprint("spectralfm.augment", "spectralfm.preprocess"),
    script:
        "../workflow_scripts/augment.py"


rule corpus:
    """One HDF5 corpus: duplicates removed, split by sample, benchmark spectra refused."""
    input:
        unpack(exclusion_inputs),
        shards=[f"results/augmented/{s}/{i}.h5" for s, i in corpus_shards()],
        quarantine=[
            f"results/parsed/{s}/{i}.parquet.quarantine.csv"
            for s, i in corpus_shards()
        ]
        + [f"results/spectra/{s}/{i}.quarantine.csv" for s, i in corpus_shards()],
    output:
        corpus="results/corpus/corpus.h5",
        stats=report(
            "results/corpus/stats.json",
            caption="../report/corpus.rst",
            category="Corpus",
        ),
        figure=report(
            "results/corpus/examples.png",
            caption="../report/corpus.rst",
            category="Corpus",
        ),
    log:
        "logs/corpus/corpus.log",
    benchmark:
        "results/benchmarks/corpus/corpus.tsv"
    conda:
        "../envs/data.yaml"
    params:
        val_fraction=config["corpus"]["val_fraction"],
        seed=config["corpus"]["seed"],
        exclude=config["corpus"]["exclude_benchmarks"],
        code=code_fingerprint("spectralfm.corpus", "spectralfm.leakage"),
    script:
        "../workflow_scripts/corpus.py"
