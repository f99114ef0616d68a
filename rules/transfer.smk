rule transfer:
    """All experiments of one classical method on one instrument pair
    (properties x N x selection x seeds)."""
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
        protocol=protocol_params,
        method_params=method_params,
        code=method_fingerprint,
    script:
        "../workflow_scripts/transfer.py"


rule transfer_spectralfm:
    """SpectralFM rows: LoRA fine-tuning on the same protocol and splits as the classical methods.
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
        protocol=protocol_params,
        method_params=method_params,
        code=method_fingerprint,
    script:
        "../workflow_scripts/transfer.py"
