rule fit:
    """One method on one blurred image with one seed (a GPU job on a cluster)."""
    input:
        scene=layout.SCENE,
        blurred=layout.BLURRED,
    output:
        estimate_png=layout.FIT_ESTIMATE_PNG,
        estimate_npz=layout.FIT_ESTIMATE_NPZ,
        trace=layout.FIT_TRACE,
        meta=layout.FIT_META,
    log:
        "logs/fit/{method}/{blur}/{dataset}/{scene}/seed{seed}.log",
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        recipe=method_recipe,
    shell:
        "inrdeblur fit --scene {input.scene:q} --blurred {input.blurred:q}"
        " --method {wildcards.method} --recipe {params.recipe:q} --seed {wildcards.seed}"
        " --threads {threads} --estimate-png {output.estimate_png:q}"
        " --estimate-npz {output.estimate_npz:q} --trace {output.trace:q}"
        " --meta {output.meta:q} 2> {log:q}"


rule index_fits:
    """One CSV row per fit of a method: device, time, size, final loss and PSNR."""
    input:
        fit_metas_of_method,
    output:
        layout.FIT_INDEX,
    log:
        "logs/index_fits/{method}.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    message:
        "index the fits of {wildcards.method}"
    shell:
        "inrdeblur index-fits --method {wildcards.method} --out {output:q} {input:q} 2> {log:q}"
