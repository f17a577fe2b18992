"""The fit stage: one method on one blurred image for every seed, written to disk
(:mod:`inrdeblur.fit.run`); the methods themselves are in :mod:`inrdeblur.methods`."""
