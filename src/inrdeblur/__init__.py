"""inrdeblur: a reproducible benchmark of self-supervised deblurring with implicit neural
representations.

Subpackages follow the data flow of the pipeline; each imports only packages listed
above it (``tests/test_import_graph.py`` checks that there is no cycle):

- :mod:`inrdeblur.blur`    blur operators (uniform, ICB, PWB), kernels, camera trajectories
- :mod:`inrdeblur.records` the stage file formats: scene, blurred-image and fit records
- :mod:`inrdeblur.data`    dataset registry, the fetch stage and its downloads, readers, the
  embedded demo dataset, the prepare and synthesize stages
- :mod:`inrdeblur.config`  validate ``params.yaml`` against its JSON schema (and the
  dataset registry)
- :mod:`inrdeblur.inr`     implicit neural representations (SIREN, ...)
- :mod:`inrdeblur.networks` neural networks shared by methods (the DIP skip network)
- :mod:`inrdeblur.methods` deblurring methods: the interface, the registry of types
  (INR fits, classical baselines), checkpoints
- :mod:`inrdeblur.fit`     the fit stage: a method on a blurred image, written to disk
- :mod:`inrdeblur.metrics` PSNR, SSIM, LPIPS, shift-aligned metrics, the evaluate stage
  and the metrics tables
- :mod:`inrdeblur.studies` experiments that are not fits (blur formation)
- :mod:`inrdeblur.report`  figures and the HTML report
- :mod:`inrdeblur.cli`     one command per pipeline stage

The library never imports Snakemake or DVC.
"""

__version__ = "0.1.0"
