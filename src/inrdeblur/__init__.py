"""inrdeblur: a reproducible benchmark of self-supervised deblurring with implicit neural
representations.

Subpackages follow the data flow of the pipeline:

- :mod:`inrdeblur.config`  validate ``params.yaml`` against its JSON schema
- :mod:`inrdeblur.data`    scene records and the embedded demo dataset
- :mod:`inrdeblur.blur`    camera trajectories, motion kernels, convolution
- :mod:`inrdeblur.inr`     implicit neural representations (SIREN, ...)
- :mod:`inrdeblur.fit`     non-blind fitting loop and regularisers
- :mod:`inrdeblur.metrics` PSNR, SSIM, LPIPS
- :mod:`inrdeblur.report`  tables, figures and the HTML report
- :mod:`inrdeblur.cli`     one command per pipeline stage

The library never imports Snakemake or DVC.
"""

__version__ = "0.1.0"
