"""Neural networks shared by several methods: :mod:`~inrdeblur.networks.skip` (the DIP
skip network), :mod:`~inrdeblur.networks.kernel_generators` (the blind methods' kernel
generators) and :mod:`~inrdeblur.networks.kernel_space` (the learned blur operator and
kernel extractor of Tran et al. 2021)."""
