rule table:
    """One row per experiment, and the summary over seeds."""
    input:
        lambda wildcards: transfer_parts(wildcards.dataset),
    output:
        table=report(
            "results/tables/{dataset}_transfer.csv",
            caption="../report/table.rst",
            category="Tables",
        ),
        summary=report(
            "results/tables/{dataset}_transfer_summary.csv",
            caption="../report/summary.rst",
            category="Tables",
        ),
    log:
        "logs/table/{dataset}.log",
    conda:
        "../envs/transfer.yaml"
    params:
        code=code_fingerprint("spectralfm.results"),
    script:
        "../workflow_scripts/table.py"


rule figure_rmsep:
    input:
        "results/tables/{dataset}_transfer.csv",
    output:
        report(
            "results/figures/{dataset}_rmsep_vs_n.png",
            caption="../report/rmsep_vs_n.rst",
            category="Figures",
        ),
    log:
        "logs/figures/{dataset}_rmsep_vs_n.log",
    conda:
        "../envs/transfer.yaml"
    params:
        code=code_fingerprint("spectralfm.figures"),
    script:
        "../workflow_scripts/figure_rmsep.py"
