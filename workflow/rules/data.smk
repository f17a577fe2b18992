rule prepare:
    """One normalised scene record per image of a dataset."""
    output:
        layout.SCENE,
    params:
        settings=dataset_settings,
    log:
        "logs/prepare/{dataset}/{scene}.log",
    message:
        "prepare scene {wildcards.dataset}/{wildcards.scene}"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "inrdeblur prepare --dataset {wildcards.dataset} --scene {wildcards.scene}"
        " --settings {params.settings:q} --out {output:q} 2> {log:q}"
