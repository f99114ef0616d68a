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


# Cheap bookkeeping stays on the submit host under a cluster profile; downloads too, because
# compute nodes often have no internet.
localrules:
    all,
    download,
    extract,
    table,
    figure_rmsep,


rule all:
    default_target: True
    input:
        all_targets(),
