# spectralfm: calibration transfer benchmark and SpectralFM pretraining.
# Run:  snakemake --cores 8 results/tables/corn_transfer.csv


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/download.smk"
include: "rules/corpus.smk"
include: "rules/pretrain.smk"
include: "rules/transfer.smk"
include: "rules/report.smk"


report: "report/workflow.rst"


rule all:
    default_target: True
    input:
        all_targets(),
