"""Experiments that are not fits of a method: the blur-formation comparison of the blur
models against reference blurry images (:mod:`inrdeblur.studies.blur_formation`)."""
