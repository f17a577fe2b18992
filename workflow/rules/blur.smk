rule synthesize:
    """A blurry image and its blur operator from a sharp scene."""
    input:
        scenes=layout.SCENES_DIR,
    output:
        layout.BLURRED,
    log:
        "logs/synthesize/{blur}/{dataset}/{scene}.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        settings=blur_settings,
        scene=layout.SCENE,
    shell:
        "inrdeblur synthesize --scene {params.scene:q} --blur {wildcards.blur}"
        " --settings {params.settings:q} --out {output:q} 2> {log:q}"


rule synthesize_all:
    """Target: every blurred image of the experiment."""
    input:
        all_blurred_files(),
