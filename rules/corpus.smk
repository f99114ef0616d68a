# Raw public spectra -> parsed records -> resampled+SNV spectra -> augmented -> one HDF5 corpus.
# One job per raw file (shard) at every stage, so --cores scales and a change reruns only its shards.


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
