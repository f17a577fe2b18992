rule evaluate:
    """PSNR, SSIM and LPIPS of one fit and of its blurry input."""
    input:
        scene=layout.SCENE,
        blurred=layout.BLURRED,
        estimate=layout.FIT_ESTIMATE_NPZ,
        meta=layout.FIT_META,
    output:
        layout.METRICS,
    params:
        lpips="--lpips" if config["metrics"]["lpips"] else "--no-lpips",
    log:
        "logs/evaluate/{method}/{blur}/{dataset}/{scene}/seed{seed}.log",
    message:
        "evaluate {wildcards.method} on {wildcards.blur}/{wildcards.dataset}/{wildcards.scene} seed {wildcards.seed}"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "inrdeblur evaluate --scene {input.scene:q} --blurred {input.blurred:q}"
        " --estimate {input.estimate:q} --meta {input.meta:q} {params.lpips}"
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
    message:
        "aggregate metrics"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "inrdeblur aggregate --metrics-csv {output.metrics:q} --summary-csv {output.summary:q}"
        " --metrics-json {output.json:q} {input:q} 2> {log:q}"
