"""The stage file formats: the records one stage writes and later stages read.

- :mod:`inrdeblur.records.scene`: the scene record ``data/scenes/<dataset>/<scene>.npz``
  (sharp image, depth, trajectory, intrinsics, stored blurry image, true kernel);
- :mod:`inrdeblur.records.blurred`: the blurred record
  ``data/blurred/<blur>/<dataset>/<scene>.npz`` (the observation and what rebuilds its
  operator);
- :mod:`inrdeblur.records.fit`: a fit's ``estimate.npz`` (the estimate and, for a blind
  method, its kernel estimate).

Where every file lies is :mod:`inrdeblur.layout`; a fit's other outputs (trace, meta) are
described in :mod:`inrdeblur.fit.run`. No stage imports another stage's code to read a
file: the fit and evaluate stages read through these classes; the report still reads the
arrays it shows with its own checked loader (``report.html._load_image``).
"""
