rule evaluate:
    """PSNR, SSIM and LPIPS (and, per metrics.aligned, the shift-aligned metrics) of one fit and of its blurry input."""
    input:
        scene=layout.SCENE,
        blurred=layout.BLURRED,
        estimate=layout.FIT_ESTIMATE_NPZ,
        meta=layout.FIT_META,
    output:
        layout.METRICS,
    log:
        "logs/evaluate/{method}/{blur}/{dataset}/{scene}/seed{seed}.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        lpips=LPIPS_FLAG,
        aligned=config["metrics"]["aligned"],
    shell:
        "inrdeblur evaluate --scene {input.scene:q} --blurred {input.blurred:q}"
        " --estimate {input.estimate:q} --meta {input.meta:q} {params.lpips}"
        " --aligned {params.aligned}"
        " --out {output:q} 2> {log:q}"


rule aggregate:
    """Long metrics table, summary table and DVC metrics of the whole experiment."""
    input:
        all_metric_files(),
    output:
        metrics=layout.METRICS_TABLE,
        summary=layout.SUMMARY_TABLE,
        json=layout.METRICS_JSON,
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
        " --metrics-json {output.json:q} {input:q} 2> {log:q}"
