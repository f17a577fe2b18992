rule fit:
    """One method on one blurred image, for every seed in turn (a GPU job on a cluster).
    Its output is the image's folder, one seed<k>/ per seed (see inrdeblur.layout)."""
    input:
        scenes=layout.SCENES_DIR,
        blurred=layout.BLURRED,
    output:
        directory(layout.FIT_SCENE_DIR),
    log:
        "logs/fit/{method}/{blur}/{dataset}/{scene}.log",
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=120 * len(SEEDS),
    params:
        recipe=method_recipe,
        scene=layout.SCENE,
        seeds=" ".join(map(str, SEEDS)),
        checkpoints=layout.FIT_CHECKPOINT_DIR,
    shell:
        "inrdeblur fit --scene {params.scene:q} --blurred {input.blurred:q}"
        " --method {wildcards.method} --recipe {params.recipe:q} --seeds {params.seeds}"
        " --threads {threads} --out-dir {output:q} --checkpoint-dir {params.checkpoints:q}"
        " 2> {log:q}"


rule index_fits:
    """One CSV row per fit of a method: device, time, size, final loss and PSNR."""
    input:
        fit_dirs_of_method,
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
    params:
        experiment=experiment_sections,
    message:
        "index the fits of {wildcards.method}"
    shell:
        "inrdeblur index-fits --method {wildcards.method} --experiment {params.experiment:q}"
        " --out {output:q} 2> {log:q}"
