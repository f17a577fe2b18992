"""Kernel generators of the blind methods: networks whose output is a blur kernel.

Both end in a softmax over all K x K taps, so every kernel they produce is non-negative
and sums to one (the blur preserves brightness):

- :class:`SirenKernel` (cross-scale INR, Zhang, Quan & Ji, NeurIPS 2024, spec A.3): a
  SIREN on the K x K grid of coordinates ``linspace(-1, 1, K)`` per axis, one logit per
  tap, softmax, then :func:`centre_kernel`. The grid always spans [-1, 1], so for odd K
  the kernel of side ``ceil(K / 2)`` is evaluated at exactly the even-index points of the
  K grid: the same function at a coarser scale.
- :class:`FCNKernel` (SelfDeblur, Ren et al., CVPR 2020, spec B.1; also VDIP): a fixed
  200-dimensional input drawn once from U(0, 0.1), Linear(200, 1000), ReLU6,
  Linear(1000, K^2), softmax.

Kernels are (K, K) tensors in this pipeline's convention: true convolution of the latent
image (:func:`inrdeblur.blur.uniform.convolve`), row 0 at the top.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from inrdeblur.inr.siren import SineLayer
from inrdeblur.networks.skip import check_positive_int


def centre_kernel(kernel: torch.Tensor) -> torch.Tensor:
    """Roll a (K, K) kernel by whole pixels so that its centroid is nearest the centre.

    The centroid ``c = sum_(i, j) (i, j) k(i, j) / sum k`` moves by the integer shift
    ``round((K - 1) / 2 - c)`` per axis, a circular roll (the cross-scale INR's
    "kernel-centering layer"). A roll permutes the taps, so the gradient passes through.
    The reference code truncates ``K / 2 - c`` instead of rounding ``(K - 1) / 2 - c``,
    which is the same shift for a centroid on the near side of the centre and one pixel
    less on the far side; rounding is symmetric, and leaves the centroid within half a
    pixel of the centre whenever the roll wraps no mass around.
    """
    if kernel.ndim != 2:
        raise ValueError(f"kernel must be (K, K), got shape {tuple(kernel.shape)}")
    kh, kw = kernel.shape
    with torch.no_grad():
        total = kernel.sum()
        rows = torch.arange(kh, dtype=kernel.dtype, device=kernel.device)
        cols = torch.arange(kw, dtype=kernel.dtype, device=kernel.device)
        cy = float((kernel.sum(dim=1) * rows).sum() / total)
        cx = float((kernel.sum(dim=0) * cols).sum() / total)
    dy = int(round((kh - 1) / 2 - cy))
    dx = int(round((kw - 1) / 2 - cx))
    if dy == 0 and dx == 0:
        return kernel
    return torch.roll(kernel, shifts=(dy, dx), dims=(0, 1))


def kernel_grid(size: int, device: torch.device | None = None) -> torch.Tensor:
    """(size * size, 2) coordinates ``(row, col)`` on ``linspace(-1, 1, size)``, row-major."""
    axis = torch.linspace(-1.0, 1.0, size, device=device)
    rows, cols = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([rows.reshape(-1), cols.reshape(-1)], dim=1)


class SirenKernel(nn.Module):
    """The cross-scale INR's kernel generator: one SIREN for every scale's kernel.

    Layers (reference code): SineLayer(2 -> ``hidden``, omega0 30, first), ``layers`` x
    SineLayer(``hidden`` -> ``hidden``, omega0 30), Linear(``hidden`` -> 1) with SIREN's
    uniform init; then softmax over the K^2 taps and, with ``centre``,
    :func:`centre_kernel`. ``forward(size)`` -> (size, size) kernel.
    """

    def __init__(
        self, hidden: int = 64, layers: int = 3, omega0: float = 30.0, centre: bool = True
    ) -> None:
        super().__init__()
        check_positive_int("kernel_net.hidden", hidden)
        check_positive_int("kernel_net.layers", layers, allow_zero=True)
        body: list[nn.Module] = [SineLayer(2, hidden, omega0, True)]
        body += [SineLayer(hidden, hidden, omega0, False) for _ in range(layers)]
        self.body = nn.Sequential(*body)
        self.head = nn.Linear(hidden, 1)
        bound = math.sqrt(6.0 / hidden) / omega0
        with torch.no_grad():
            self.head.weight.uniform_(-bound, bound)
        self.centre = bool(centre)

    def forward(self, size: int) -> torch.Tensor:
        device = self.head.weight.device
        logits = self.head(self.body(kernel_grid(size, device)))[:, 0]
        kernel = torch.softmax(logits, dim=0).reshape(size, size)
        return centre_kernel(kernel) if self.centre else kernel


class FCNKernel(nn.Module):
    """SelfDeblur's kernel generator: a fixed random input through a two-layer perceptron.

    The input, ``noise_dim`` values from U(0, 0.1) drawn at construction (from the global
    RNG), is a buffer: saved with the state and never perturbed. ``forward()`` ->
    (size, size) kernel, softmax over the taps.
    """

    def __init__(self, size: int, noise_dim: int = 200, hidden: int = 1000) -> None:
        super().__init__()
        self.size = check_positive_int("kernel_size", size)
        check_positive_int("kernel_net.noise_dim", noise_dim)
        check_positive_int("kernel_net.hidden", hidden)
        self.register_buffer("noise", torch.rand(noise_dim) * 0.1)
        self.net = nn.Sequential(
            nn.Linear(noise_dim, hidden), nn.ReLU6(), nn.Linear(hidden, size * size)
        )

    def forward(self) -> torch.Tensor:
        return torch.softmax(self.net(self.noise), dim=0).reshape(self.size, self.size)
