rule fetch:
    """Download one dataset (or copy it from datasets.<dataset>.mirror) into
    data/raw/<dataset>/, verified against the registry's hashes; unknown hashes are
    measured and recorded in data/raw/<dataset>.checksums.json (the CLI's default
    --raw-dir is RAW_DIR). A local rule: login nodes have the internet, compute nodes
    often do not (no message: Snakemake then logs it as `localrule fetch`). An existing
    copy is verified, not fetched again."""
    output:
        FETCH_STAMP,
    log:
        "logs/fetch/{dataset}.log",
    wildcard_constraints:
        dataset=fetched_dataset_pattern(),
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=240,
    params:
        mirror=fetch_mirror_option,
    shell:
        "inrdeblur fetch {wildcards.dataset} {params.mirror} --no-progress 2> {log:q}"


rule fetch_all:
    """Target: every dataset of the experiment that is fetched into data/raw."""
    input:
        all_fetch_stamps(),


rule fetch_lpips:
    """Target, only when named (`snakemake fetch_lpips`): the ImageNet AlexNet backbone of
    LPIPS in the torch hub cache ($TORCH_HOME/hub/checkpoints/). The pipeline runs
    without it and records LPIPS as missing."""
    output:
        LPIPS_BACKBONE,
    log:
        "logs/fetch/lpips_alexnet.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=60,
    shell:
        "inrdeblur fetch lpips_alexnet --no-progress 2> {log:q}"


rule prepare:
    """The normalised scene record of every image of a dataset in the experiment: one job
    per dataset, reading is quick next to starting a job per image. A folder of the
    user's own (photos) is not fetched: its files are the inputs."""
    input:
        fetched=fetched_dataset,
        folder=user_folder_files,
    output:
        directory(layout.SCENES_DIR),
    log:
        "logs/prepare/{dataset}.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        settings=dataset_settings,
    message:
        "prepare the scenes of {wildcards.dataset}"
    shell:
        "inrdeblur prepare --dataset {wildcards.dataset} --settings {params.settings:q}"
        " --no-progress --out-dir {output:q} 2> {log:q}"
