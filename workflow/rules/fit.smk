rule fit:
    """One method on one blurred image, for every seed in turn (a GPU job on a cluster).
    Its output is the image's folder, one seed<k>/ per seed; the command finds its inputs
    and outputs at their inrdeblur.layout paths. A two-stage entry's fit also reads its
    blind method's fit of the image, seed for seed."""
    input:
        scenes=layout.SCENES_DIR,
        blurred=layout.BLURRED_DIR,
        blind_fit=blind_fit_of,
    output:
        directory(layout.FIT_SCENE_DIR),
    log:
        "logs/fit/{method}/{blur}/{dataset}/{scene}.log",
    conda:
        CONDA_ENV
    threads: config["executor"]["fit_threads"]
    resources:
        mem_mb=fit_mem_mb,
        runtime=fit_runtime,
    params:
        recipe=method_recipe,
        seeds=fit_seeds_option,
    shell:
        "inrdeblur fit --method {wildcards.method} --blur {wildcards.blur}"
        " --dataset {wildcards.dataset} --scene {wildcards.scene:q}"
        " --recipe {params.recipe:q} --seeds {params.seeds} --threads {threads} 2> {log:q}"


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
        studies=study_sections,
    message:
        "index the fits of {wildcards.method}"
    shell:
        "inrdeblur index-fits --method {wildcards.method} --studies {params.studies:q}"
        " --out {output:q} 2> {log:q}"
