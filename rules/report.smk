# Tables, figures and the headline of the calibration-transfer results. The report
# (`snakemake --report report.html`, after the default target) shows the headline first: its
# category sorts first in the report's menu.

HEADLINE_N = 10
HEADLINE_SELECTION = "kennard_stone"
BENCHMARK_N_VALUES = [5, 10, 20]


localrules:
    headline,
    figure_ratio,
    figure_coverage,
    benchmarks_summary,


rule table:
    """One row per experiment, and the summary over splits and seeds."""
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
        # Calibration size of a random split, for the corrected interval when the table has no
        # target_full rows to read it from.
        n_train=lambda wildcards: config["transfer"][wildcards.dataset].get(
            "n_calibration"
        ),
        code=script_code("table.py"),
    script:
        "../workflow_scripts/table.py"


rule headline:
    """RMSEP at N = 10 per pair, property and method with its interval; the method ranking."""
    input:
        "results/tables/{dataset}_transfer_summary.csv",
    output:
        rst="results/tables/{dataset}_headline.rst",
        html=report(
            "results/tables/{dataset}_headline.html",
            caption="../report/headline.rst",
            category="1. Headline",
        ),
    log:
        "logs/table/{dataset}_headline.log",
    conda:
        "../envs/transfer.yaml"
    params:
        n=HEADLINE_N,
        selection=HEADLINE_SELECTION,
        code=script_code("headline.py"),
    script:
        "../workflow_scripts/headline.py"


rule figure_rmsep:
    input:
        "results/tables/{dataset}_transfer_summary.csv",
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
        code=script_code("figure_rmsep.py"),
    script:
        "../workflow_scripts/figure_rmsep.py"


rule figure_ratio:
    input:
        "results/tables/{dataset}_transfer_summary.csv",
    output:
        report(
            "results/figures/{dataset}_ratio_to_best.png",
            caption="../report/ratio_to_best.rst",
            category="Figures",
        ),
    log:
        "logs/figures/{dataset}_ratio_to_best.log",
    conda:
        "../envs/transfer.yaml"
    params:
        code=script_code("figure_ratio.py"),
    script:
        "../workflow_scripts/figure_ratio.py"


rule figure_coverage:
    input:
        "results/tables/{dataset}_transfer_summary.csv",
    output:
        report(
            "results/figures/{dataset}_coverage.png",
            caption="../report/coverage.rst",
            category="Figures",
        ),
    log:
        "logs/figures/{dataset}_coverage.log",
    conda:
        "../envs/transfer.yaml"
    params:
        code=script_code("figure_coverage.py"),
    script:
        "../workflow_scripts/figure_coverage.py"


rule benchmarks_summary:
    """Every dataset of config["transfer"]: the best classical method per cell and each other
    method's ratio to it, at N = 5, 10, 20."""
    input:
        expand(
            "results/tables/{dataset}_transfer_summary.csv",
            dataset=list(config["transfer"]),
        ),
    output:
        table=report(
            "results/tables/benchmarks_summary.csv",
            caption="../report/benchmarks_summary.rst",
            category="1. Headline",
        ),
        figure=report(
            "results/figures/benchmarks_summary.png",
            caption="../report/benchmarks_summary.rst",
            category="1. Headline",
        ),
    log:
        "logs/table/benchmarks_summary.log",
    conda:
        "../envs/transfer.yaml"
    params:
        n_values=BENCHMARK_N_VALUES,
        datasets=list(config["transfer"]),
        code=script_code("benchmarks_summary.py"),
    script:
        "../workflow_scripts/benchmarks_summary.py"
