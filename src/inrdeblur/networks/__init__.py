"""Neural networks shared by several methods (:mod:`inrdeblur.networks.skip`: the DIP skip
network)."""
