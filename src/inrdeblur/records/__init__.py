"""The stage file formats: the records one stage writes and later stages read.

- :mod:`inrdeblur.records.scene`: the scene record ``data/scenes/<dataset>/<scene>.npz``
  (sharp image, depth, trajectory, intrinsics, stored blurry image, true kernel);
- :mod:`inrdeblur.records.blurred`: the blurred record
  ``data/blurred/<blur>/<dataset>/<scene>.npz`` (the observation and what rebuilds its
  operator).

Where every file lies is :mod:`inrdeblur.layout`; a fit's outputs are described in
:mod:`inrdeblur.fit.run`. No stage imports another stage's code to read a file: they all
read through these classes.
"""
