"""Blur formation: camera trajectories, blur kernels and convolution operators."""
