# SpectralFM pretraining on the corpus. On a cluster: --profile profiles/slurm sends this job to a GPU
# partition with the resources below (edit them in config.yaml: pretrain.resources).


rule pretrain:
    """Masked reconstruction of two simulated instrument views of each spectrum, with translation,
    view-invariance, instrument, OT, VIB, domain and MoE terms; checkpoints and resumes (SIGUSR1/
    SIGTERM or a rerun), torchrun over all GPUs when pretrain.resources.gpu > 1."""
    input:
        corpus="results/corpus/corpus.h5",
    output:
        weights="results/pretrain/model.safetensors",
        model_config="results/pretrain/model_config.json",
        metrics="results/pretrain/metrics.jsonl",
        curve=report(
            "results/pretrain/loss_curve.png",
            caption="../report/pretrain.rst",
            category="Pretraining",
        ),
    log:
        "logs/pretrain/pretrain.log",
    benchmark:
        "results/benchmarks/pretrain/pretrain.tsv"
    conda:
        "../envs/model.yaml"
    threads: max(1, config["pretrain"]["resources"]["cpus_per_gpu"])
    resources:
        gpu=config["pretrain"]["resources"]["gpu"],
        cpus_per_gpu=config["pretrain"]["resources"]["cpus_per_gpu"],
        mem_mb=config["pretrain"]["resources"]["mem_mb"],
        runtime=config["pretrain"]["resources"]["runtime"],
    params:
        preset=config["model"]["preset"],
        model_overrides={k: v for k, v in config["model"].items() if k != "preset"},
        # the PretrainConfig fields (spectralfm/training/pretrain.py), which checks the keys
        train=config["pretrain"]["train"],
        gpus=config["pretrain"]["resources"]["gpu"],
        code=script_code("pretrain.py"),
    script:
        "../workflow_scripts/pretrain.py"
