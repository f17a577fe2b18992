"""inrdeblur: a reproducible benchmark of self-supervised deblurring with implicit neural
representations.

Subpackages follow the data flow of the pipeline:

- :mod:`inrdeblur.config`  validate ``params.yaml`` against its JSON schema
- :mod:`inrdeblur.data`    dataset registry, readers, the embedded demo dataset, scene records
- :mod:`inrdeblur.blur`    camera trajectories, motion kernels, convolution
- :mod:`inrdeblur.inr`     implicit neural representations (SIREN, ...)
- :mod:`inrdeblur.methods` deblurring methods: the interface, the registry of types
  (INR fits, classical baselines)
- :mod:`inrdeblur.fit`     the fit stage: a method on a blurred image, written to disk
- :mod:`inrdeblur.metrics` PSNR, SSIM, LPIPS
- :mod:`inrdeblur.report`  tables, figures and the HTML report
- :mod:`inrdeblur.cli`     one command per pipeline stage

The library never imports Snakemake or DVC.
"""

__version__ = "0.1.0"
