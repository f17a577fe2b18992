rule report:
    """The self-contained HTML report: a section per study (tables, figures), the visual
    grid, params, provenance.
    The fit indexes stand for every fit folder they list (the grid reads some estimates)."""
    input:
        metrics=layout.METRICS_TABLE,
        convergence=layout.CONVERGENCE_TABLE,
        forward=layout.FORWARD_SUMMARY_TABLE,
        forward_records=layout.FORWARD_RECORDS_TABLE,
        scenes=all_scene_dirs(),
        blurred=all_blurred_dirs(),
        fit_indexes=all_fit_indexes(),
        kernel_space=kernel_space_targets(),
    output:
        html=report(layout.REPORT_HTML, caption="../report/html.rst", category="Report"),
        figures=report(
            directory(layout.REPORT_FIGURES),
            patterns=["{study}/{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
        ),
    log:
        "logs/report.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=report_settings,
        max_scenes=config["report"]["max_scenes"],
        thumbnail_px=config["report"]["thumbnail_px"],
        kernel_space=lambda wildcards, input: (
            f"--kernel-space-dir {input.kernel_space[0]}" if input.kernel_space else ""
        ),
    message:
        "render the report"
    shell:
        "inrdeblur report --metrics-csv {input.metrics:q}"
        " --forward-models-csv {input.forward:q} --forward-records-csv {input.forward_records:q}"
        " --convergence-csv {input.convergence:q}"
        " --params-json {params.settings:q} --max-scenes {params.max_scenes}"
        " --thumbnail-px {params.thumbnail_px} --out {output.html:q}"
        " --figures {output.figures:q} {params.kernel_space} 2> {log:q}"
