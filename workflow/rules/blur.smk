rule synthesize:
    """Blurry images and their blur operators from the sharp scenes of one dataset: one job
    per blur and dataset (a blur takes about a second per 720x1280 image)."""
    input:
        scenes=layout.SCENES_DIR,
    output:
        directory(layout.BLURRED_DIR),
    log:
        "logs/synthesize/{blur}/{dataset}.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        settings=blur_settings,
    message:
        "blur the scenes of {wildcards.dataset} with {wildcards.blur}"
    shell:
        "inrdeblur synthesize --scenes-dir {input.scenes:q} --blur {wildcards.blur}"
        " --settings {params.settings:q} --no-progress --out-dir {output:q} 2> {log:q}"


rule synthesize_all:
    """Target: every blurred image of the experiment."""
    input:
        all_blurred_dirs(),
