# INR deblurring benchmark: params.yaml -> scenes -> blurred images -> fits -> metrics -> report,
# plus the blur-formation experiment (blur models against reference blurry images).
# The rules are thin: each one calls `inrdeblur <stage>`. See workflow/rules/common.smk for
# the targets and README.md for how to run it.
from snakemake.utils import min_version

min_version("9.0")


configfile: "params.yaml"


# `snakemake --report report.zip`: the annotated outputs (report(...) in the rules).
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/blur.smk"
include: "workflow/rules/fit.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/forward_models.smk"
include: "workflow/rules/kernel_space.smk"
include: "workflow/rules/report.smk"


# Cheap bookkeeping runs where Snakemake runs, not as cluster jobs; so do the fetches,
# because login nodes have the internet and compute nodes often do not.
localrules:
    all,
    fetch,
    fetch_all,
    fetch_lpips,
    synthesize_all,
    index_fits,
    aggregate,
    forward_model_tables,
    report,


rule all:
    default_target: True
    input:
        layout.REPORT_HTML,
        all_fit_indexes(),
        kernel_space_targets(),
