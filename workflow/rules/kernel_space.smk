rule train_kernel_space:
    """Train the blur-kernel space (Tran et al. 2021) on pairs made from the prepared
    scenes of kernel_space.datasets, or keep the user's kernel_space.weights (a GPU job on
    a cluster). With kernel_space.enabled false it only writes a meta.json that says so.
    The folder holds weights.pt, trace.csv and meta.json; the checkpoint outside it
    survives a failed job, whose folder Snakemake deletes."""
    input:
        scenes=kernel_space_scene_dirs,
    output:
        directory(layout.KERNEL_SPACE_DIR),
    log:
        "logs/train_kernel_space.log",
    conda:
        CONDA_ENV
    threads: config["executor"]["fit_threads"]
    resources:
        mem_mb=8000,
        runtime=240,
    params:
        settings=_as_json(config["kernel_space"]),
        checkpoint=layout.KERNEL_SPACE_CHECKPOINT,
    message:
        "train the kernel space"
    shell:
        "inrdeblur train-kernel-space --settings {params.settings:q}"
        " --scenes-dirs {input.scenes:q} --out-dir {output:q}"
        " --checkpoint {params.checkpoint:q} --threads {threads} 2> {log:q}"
