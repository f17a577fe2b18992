"""The report stage: figures (seaborn) and one self-contained HTML file, from the metrics
tables of :mod:`inrdeblur.metrics.tables` and the blur-formation tables of
:mod:`inrdeblur.studies.blur_formation`.

- :mod:`inrdeblur.report.figures`  PSNR vs time, PSNR per scene, PSNR gain (PNG)
- :mod:`inrdeblur.report.html`     visual grid and the HTML report

Submodules are imported on use, so reading a table does not import matplotlib or Jinja2.
"""
