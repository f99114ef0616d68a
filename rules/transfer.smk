# Modules every transfer job runs, whatever the method; a method adds its own module.
TRANSFER_CORE_MODULES = (
    "spectralfm.datasets",
    "spectralfm.metrics",
    "spectralfm.transfer.base",
    "spectralfm.transfer.pls",
    "spectralfm.transfer.selection",
    "spectralfm.transfer.protocol",
)


def method_fingerprint(wildcards):
    """Core modules + the method's own module (+ what it declares it runs, e.g. the model code)."""
    method = METHODS[wildcards.method]
    return code_fingerprint(
        *TRANSFER_CORE_MODULES, method.__module__, *getattr(method, "code_modules", ())
    )


def protocol_params(wildcards):
    keys = ("split", "n_calibration", "properties", "n_transfer", "selection", "seeds")
    return {key: config["transfer"][wildcards.dataset][key] for key in keys}


def method_params(wildcards):
    return config["methods"].get(wildcards.method) or {}


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
