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


rule transfer:
    """All experiments of one method on one instrument pair (properties x N x selection x seeds)."""
    input:
        benchmark_inputs,
    output:
        "results/transfer/{dataset}/{pair}/{method}.csv",
    log:
        "logs/transfer/{dataset}/{pair}/{method}.log",
    benchmark:
        "results/benchmarks/transfer/{dataset}/{pair}/{method}.tsv"
    conda:
        "../envs/transfer.yaml"
    threads: 1
    params:
        source=lambda wildcards: slug_pair(wildcards.pair)[0],
        target=lambda wildcards: slug_pair(wildcards.pair)[1],
        protocol=lambda wildcards: {
            key: config["transfer"][wildcards.dataset][key]
            for key in (
                "split",
                "n_calibration",
                "properties",
                "n_transfer",
                "selection",
                "seeds",
            )
        },
        method_params=lambda wildcards: config["methods"].get(wildcards.method) or {},
        code=method_fingerprint,
    script:
        "../workflow_scripts/transfer.py"
