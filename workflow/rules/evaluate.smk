rule evaluate:
    """PSNR, SSIM and LPIPS (and, per metrics.aligned, the shift-aligned metrics) of every fit of a method on one blur of one dataset, and of the blurry inputs: one job loads LPIPS once for them all. It waits for the method's fit index, which stands for the fit folders."""
    input:
        unpack(evaluation_set_inputs),
    output:
        records=layout.METRICS_SET,
        convergence=layout.CONVERGENCE_SET,
    log:
        "logs/evaluate/{method}/{blur}/{dataset}.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        lpips=LPIPS_FLAG,
        aligned=config["metrics"]["aligned"],
        settings=dataset_settings,
        seeds=fit_seeds_option,
    message:
        "evaluate {wildcards.method} on {wildcards.blur}/{wildcards.dataset}"
    shell:
        "inrdeblur evaluate --method {wildcards.method} --blur {wildcards.blur}"
        " --dataset {wildcards.dataset} --settings {params.settings:q} --seeds {params.seeds}"
        " {params.lpips} --aligned {params.aligned} --no-progress --out {output.records:q}"
        " --convergence-out {output.convergence:q} 2> {log:q}"


rule aggregate:
    """Long metrics table, summary table and DVC metrics of every study."""
    input:
        records=all_metric_sets(),
        convergence=all_convergence_sets(),
    output:
        metrics=layout.METRICS_TABLE,
        summary=report(layout.SUMMARY_TABLE, caption="../report/summary.rst", category="Tables"),
        json=layout.METRICS_JSON,
        convergence=report(
            layout.CONVERGENCE_TABLE, caption="../report/convergence.rst", category="Tables"
        ),
    log:
        "logs/aggregate.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    message:
        "aggregate metrics"
    shell:
        "inrdeblur aggregate --metrics-csv {output.metrics:q} --summary-csv {output.summary:q}"
        " --metrics-json {output.json:q} {input.records:q}"
        " --convergence-csv {output.convergence:q} --convergence-sets {input.convergence:q}"
        " 2> {log:q}"
