"""The learned blur-kernel space (Tran et al. 2021) as a stage of its own: training its
networks (:mod:`~inrdeblur.networks.kernel_space`) on pairs the pipeline makes
(:mod:`.training`)."""
