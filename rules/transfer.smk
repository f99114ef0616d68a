rule transfer:
    """All experiments of one classical method on one instrument pair
    (properties x splits x N x selection x seeds)."""
    input:
        benchmark_inputs,
    output:
        "results/transfer/{dataset}/{pair}/{method}.csv",
    log:
        "logs/transfer/{dataset}/{pair}/{method}.log",
    benchmark:
        "results/benchmarks/transfer/{dataset}/{pair}/{method}.tsv"
    wildcard_constraints:
        method="(?!spectralfm)[a-z_]+",
    conda:
        "../envs/transfer.yaml"
    threads: 1
    params:
        source=lambda wildcards: slug_pair(wildcards.pair)[0],
        target=lambda wildcards: slug_pair(wildcards.pair)[1],
        split=protocol_value("split"),
        n_calibration=protocol_value("n_calibration"),
        repeats=protocol_value("repeats", 0),
        properties=protocol_value("properties"),
        n_transfer=protocol_value("n_transfer"),
        selection=protocol_value("selection"),
        seeds=protocol_value("seeds"),
        method_params=method_params,
        code=method_fingerprint,
    script:
        "../workflow_scripts/transfer.py"


rule transfer_spectralfm:
    """SpectralFM rows: fine-tuning on the same protocol, splits and pool as the classical methods.
    `spectralfm_scratch` reads only the architecture from the pretraining output (random weights).
    """
    input:
        data=benchmark_inputs,
        pretrained=[
            "results/pretrain/model.safetensors",
            "results/pretrain/model_config.json",
        ],
    output:
        "results/transfer/{dataset}/{pair}/{method}.csv",
    log:
        "logs/transfer/{dataset}/{pair}/{method}.log",
    benchmark:
        "results/benchmarks/transfer/{dataset}/{pair}/{method}.tsv"
    wildcard_constraints:
        method="spectralfm[a-z_]*",
    conda:
        "../envs/model.yaml"
    threads: config["finetune"]["threads"]
    resources:
        gpu=config["finetune"]["gpu"],
    params:
        source=lambda wildcards: slug_pair(wildcards.pair)[0],
        target=lambda wildcards: slug_pair(wildcards.pair)[1],
        split=protocol_value("split"),
        n_calibration=protocol_value("n_calibration"),
        repeats=protocol_value("repeats", 0),
        properties=protocol_value("properties"),
        n_transfer=protocol_value("n_transfer"),
        selection=protocol_value("selection"),
        seeds=protocol_value("seeds"),
        method_params=method_params,
        code=method_fingerprint,
    script:
        "../workflow_scripts/transfer.py"
