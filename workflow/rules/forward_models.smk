rule forward_model:
    """One blur model on one scene, compared with the scene's reference blurry image."""
    input:
        scenes=layout.SCENES_DIR,
    output:
        layout.FORWARD_RECORD,
    log:
        "logs/forward_model/{blur}/{dataset}/{scene}.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        settings=blur_settings,
        scene=layout.SCENE,
    shell:
        "inrdeblur forward-model --scene {params.scene:q} --blur {wildcards.blur}"
        " --settings {params.settings:q} --threads {threads} --out {output:q} 2> {log:q}"


rule forward_model_tables:
    """Every blur-formation record, and the blur model x dataset summary."""
    input:
        all_forward_model_records(),
    output:
        records=layout.FORWARD_RECORDS_TABLE,
        summary=layout.FORWARD_SUMMARY_TABLE,
    log:
        "logs/forward_model_tables.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        studies=study_sections,
    message:
        "tabulate the blur-formation experiment"
    shell:
        "inrdeblur forward-model-tables --records-csv {output.records:q}"
        " --summary-csv {output.summary:q} --studies {params.studies:q} 2> {log:q}"
