# Raw public spectra -> parsed records -> resampled+SNV spectra -> augmented -> one HDF5 corpus.
# One job per raw file (shard) at every stage, so --cores scales and a change reruns only its shards.


rule parse:
    """Raw file -> standardized records (x in cm^-1) + a quarantine table of unreadable items."""
    input:
        parse_input,
    output:
        shard="results/parsed/{source}/{item}.parquet",
        quarantine="results/parsed/{source}/{item}.quarantine.csv",
    log:
        "logs/parse/{source}/{item}.log",
    benchmark:
        "results/benchmarks/parse/{source}/{item}.tsv"
    conda:
        "../envs/data.yaml"
    params:
        options=parse_options,
        # + the source's reader module, imported by name at run time (spectralfm.catalog)
        code=lambda wildcards: script_fingerprint(
            SCRIPTS / "parse.py",
            corpus_source(wildcards.source).reader.partition(":")[0],
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
        code=script_code("spectra.py"),
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
        copies=config["augment"]["copies"],
        noise_snr_db=config["augment"]["noise_snr_db"],
        baseline_drift=config["augment"]["baseline_drift"],
        shift_cm1=config["augment"]["shift_cm1"],
        scale_range=config["augment"]["scale_range"],
        seed=config["augment"]["seed"],
        code=script_code("augment.py"),
    script:
        "../workflow_scripts/augment.py"


rule corpus:
    """One HDF5 corpus: duplicates removed, split by sample, benchmark spectra refused."""
    input:
        unpack(exclusion_inputs),
        shards=[f"results/augmented/{s}/{i}.h5" for s, i in corpus_shards()],
        quarantine=[
            f"results/parsed/{s}/{i}.quarantine.csv" for s, i in corpus_shards()
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
        code=script_code("corpus.py"),
    script:
        "../workflow_scripts/corpus.py"
