rule prepare:
    """One normalised scene record per image of a dataset."""
    output:
        layout.SCENE,
    log:
        "logs/prepare/{dataset}/{scene}.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        settings=dataset_settings,
    message:
        "prepare scene {wildcards.dataset}/{wildcards.scene}"
    shell:
        "inrdeblur prepare --dataset {wildcards.dataset} --scene {wildcards.scene}"
        " --settings {params.settings:q} --out {output:q} 2> {log:q}"
