"""The report stage: tables (pandas), figures (seaborn) and one self-contained HTML file.

- :mod:`inrdeblur.report.tables`   per-fit metrics, summary, DVC metrics JSON
- :mod:`inrdeblur.report.figures`  PSNR vs time, PSNR per scene, PSNR gain (PNG)
- :mod:`inrdeblur.report.html`     visual grid and the HTML report

Submodules are imported on use, so reading a table does not import matplotlib or Jinja2.
"""
