"""The encoded blur-kernel space of Tran et al., "Explore Image Deblurring via Encoded Blur
Kernel Space" (CVPR 2021; methods spec section C; code
``VinAIResearch/blur-kernel-space-exploring``, ``models/kernel_encoding/kernel_wizard.py``).

Two functions of a sharp image x, trained together on sharp/blurry pairs:

- the **kernel extractor** E(x, y) -> k, a spatial code of the blur of y
  (``kernel_dim`` x H/128 x W/128);
- the **blur operator** A(x, k) -> y, which blurs any sharp image by a code.

Both see x (and y) through one shared feature extractor (a 3x3 conv, two stride-2 3x3
convs, leaky ReLU 0.1, then ``front_blocks`` residual blocks without normalisation: 64
channels at H/4). E concatenates the features of x and y, then a reflect-padded 7x7 conv,
five stride-2 3x3 convs (channels doubling up to ``kernel_dim``) and ``extractor_blocks``
reflect-padded ResNet blocks, all without biases (the config's ``norm: none``). A runs a
5-level pix2pix U-Net on the features of x (4x4 stride-2 convs down with leaky ReLU 0.2,
4x4 transposed convs up with ReLU, Tanh at the top), whose innermost level concatenates
the code; then ``back_blocks`` residual blocks, two PixelShuffle x2 upsamplers, two 3x3
convs, and the sharp image added back (A learns the blur as a residual).

Sizes (:data:`SIZES`): ``paper``, the config ``woVAE.yml`` (64 features, 512-d code, 10
front and 20 back blocks, 4 extractor blocks; 49,205,187 parameters, about 188 MiB in
float32), whose parameter names are those of the reference ``KernelWizard`` so that the
authors' published weights load (:func:`load_weights`); and ``small``, for training on a
CPU.

**Any image size.** The reference needs sides divisible by 128 (and, in fact, of at
least 256: its extractor reflect-pads the code). Here :meth:`KernelWizard.extract` and
:meth:`KernelWizard.blur` pad each side to such a size (reflect, or replicate where the
image is too small to reflect), and :meth:`~KernelWizard.blur` crops back, so a code
belongs to an image size through :func:`code_grid`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

#: the side multiple the architecture needs: 4 (features) x 32 (the five halvings)
MULTIPLE = 128
#: the fewest code cells per side (so the smallest padded side is 256)
MIN_CELLS = 2


@dataclass(frozen=True)
class KernelSpaceSize:
    """Widths and depths of the networks."""

    features: int = 64  # the config's nf
    kernel_dim: int = 512
    front_blocks: int = 10  # front_RBs
    back_blocks: int = 20  # back_RBs
    extractor_blocks: int = 4  # KernelExtractor.n_blocks
    channels: int = 3  # input_nc
    head: int = 64  # channels of the full-resolution convs (the reference's fixed 64)


#: ``paper``: the reference config (woVAE); ``small``: trainable on a CPU
SIZES = {
    "paper": KernelSpaceSize(),
    "small": KernelSpaceSize(
        features=16, kernel_dim=64, front_blocks=2, back_blocks=4, extractor_blocks=1, head=16
    ),
}


def code_grid(height: int, width: int) -> tuple[int, int]:
    """The spatial size of the code of an H x W image: its padded sides over 128, at least
    2 (the extractor's ResNet blocks reflect-pad the code by one cell, which needs two)."""
    return max(MIN_CELLS, -(-height // MULTIPLE)), max(MIN_CELLS, -(-width // MULTIPLE))


def pad_to_multiple(image: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) padded at the bottom and right to the sides of :func:`code_grid`
    (multiples of 128, at least 256): reflected where the image is large enough, else
    replicated."""
    height, width = image.shape[-2:]
    grid = code_grid(height, width)
    bottom, right = grid[0] * MULTIPLE - height, grid[1] * MULTIPLE - width
    if bottom == 0 and right == 0:
        return image
    mode = "reflect" if bottom < height and right < width else "replicate"
    return F.pad(image, (0, right, 0, bottom), mode=mode)


class ResidualBlockNoBN(nn.Module):
    """``x + conv(relu(conv(x)))``, 3x3 convs with bias, Kaiming init scaled by 0.1 (the
    reference's ``ResidualBlock_noBN``)."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, 1, 1)
        self.conv2 = nn.Conv2d(features, features, 3, 1, 1)
        for conv in (self.conv1, self.conv2):
            nn.init.kaiming_normal_(conv.weight, a=0, mode="fan_in")
            conv.weight.data *= 0.1
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class ResnetBlock(nn.Module):
    """``x + block(x)`` with block = reflect pad, 3x3 conv, ReLU, reflect pad, 3x3 conv,
    no biases and no normalisation (the reference's ``ResnetBlock`` with ``norm: none``;
    the identity modules keep its parameter indices)."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(features, features, 3, bias=False),
            nn.Identity(),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(features, features, 3, bias=False),
            nn.Identity(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class KernelExtractor(nn.Module):
    """E on the features of a sharp and a blurry image -> the code (module docstring)."""

    def __init__(self, size: KernelSpaceSize) -> None:
        super().__init__()
        nf, dim = size.features, size.kernel_dim
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(2 * nf, nf, 7, bias=False),
            nn.Identity(),
            nn.ReLU(True),
        ]
        for i in range(5):
            inner, outer = min(nf * 2**i, dim), min(nf * 2 ** (i + 1), dim)
            layers += [nn.Conv2d(inner, outer, 3, 2, 1, bias=False), nn.Identity(), nn.ReLU(True)]
        layers += [ResnetBlock(dim) for _ in range(size.extractor_blocks)]
        self.model = nn.Sequential(*layers)

    def forward(self, sharp_features: torch.Tensor, blurry_features: torch.Tensor) -> torch.Tensor:
        return self.model(torch.cat((sharp_features, blurry_features), dim=1))


class UnetBlock(nn.Module):
    """One level of the pix2pix U-Net (``UnetSkipConnectionBlock`` with ``norm: none``):
    down (leaky ReLU 0.2 and a 4x4 stride-2 conv; the outermost without the ReLU), the
    deeper levels, up (ReLU and a 4x4 stride-2 transposed conv; Tanh at the outermost),
    and the input concatenated to the output except at the outermost. The innermost
    level concatenates the code to its down features."""

    def __init__(
        self,
        outer: int,
        inner: int,
        code: int = 0,
        submodule: UnetBlock | None = None,
        outermost: bool = False,
    ) -> None:
        super().__init__()
        self.outermost, self.innermost = outermost, submodule is None
        downconv = nn.Conv2d(outer, inner, 4, 2, 1, bias=False)
        if outermost:
            self.down = nn.Sequential(downconv)
            up_in = 2 * inner
            self.up = nn.Sequential(
                nn.ReLU(True), nn.ConvTranspose2d(up_in, outer, 4, 2, 1), nn.Tanh()
            )
        else:
            down: list[nn.Module] = [nn.LeakyReLU(0.2, True), downconv]
            if not self.innermost:
                down.append(nn.Identity())
            self.down = nn.Sequential(*down)
            up_in = inner + code if self.innermost else 2 * inner
            self.up = nn.Sequential(
                nn.ReLU(True), nn.ConvTranspose2d(up_in, outer, 4, 2, 1, bias=False), nn.Identity()
            )
        if submodule is not None:
            self.submodule = submodule

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        down = self.down(x)
        if self.innermost:
            deeper = torch.cat((down, code), dim=1)
        else:
            deeper = self.submodule(down, code)
        up = self.up(deeper)
        return up if self.outermost else torch.cat((up, x), dim=1)


class KernelAdapter(nn.Module):
    """The U-Net of A: features of the sharp image and the code -> blurred features."""

    def __init__(self, size: KernelSpaceSize) -> None:
        super().__init__()
        nf = size.features
        block = UnetBlock(nf * 8, nf * 8, code=size.kernel_dim)
        block = UnetBlock(nf * 4, nf * 8, submodule=block)
        block = UnetBlock(nf * 2, nf * 4, submodule=block)
        block = UnetBlock(nf, nf * 2, submodule=block)
        self.model = UnetBlock(nf, nf, submodule=block, outermost=True)

    def forward(self, features: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        return self.model(features, code)


class KernelWizard(nn.Module):
    """E and A with their shared feature extractor (module docstring).

    ``extract(sharp, blurry)`` -> code (B, kernel_dim, *code_grid(H, W));
    ``blur(sharp, code)`` -> (B, C, H, W). Images are (B, C, H, W) in [0, 1] (the
    reference's range), any H and W. ``forward`` is ``blur(sharp, extract(sharp,
    blurry))``: the re-synthesis the training loss compares with ``blurry``.
    """

    def __init__(self, size: KernelSpaceSize | str = "paper") -> None:
        super().__init__()
        if isinstance(size, str):
            if size not in SIZES:
                raise ValueError(f"size: {size!r} is not one of {', '.join(SIZES)}")
            size = SIZES[size]
        self.size = size
        nf = size.features
        lrelu = nn.LeakyReLU(0.1)
        self.feature_extractor = nn.Sequential(
            nn.Conv2d(size.channels, nf, 3, 1, 1),
            lrelu,
            nn.Conv2d(nf, nf, 3, 2, 1),
            lrelu,
            nn.Conv2d(nf, nf, 3, 2, 1),
            lrelu,
            *[ResidualBlockNoBN(nf) for _ in range(size.front_blocks)],
        )
        self.kernel_extractor = KernelExtractor(size)
        self.adapter = KernelAdapter(size)
        self.recon_trunk = nn.Sequential(
            *[ResidualBlockNoBN(nf) for _ in range(size.back_blocks)],
            nn.Conv2d(nf, nf * 4, 3, 1, 1),
            nn.PixelShuffle(2),
            lrelu,
            nn.Conv2d(nf, size.head * 4, 3, 1, 1),
            nn.PixelShuffle(2),
            lrelu,
            nn.Conv2d(size.head, size.head, 3, 1, 1),
            lrelu,
            nn.Conv2d(size.head, size.channels, 3, 1, 1),
        )

    def _check(self, name: str, image: torch.Tensor) -> None:
        if image.ndim != 4 or image.shape[1] != self.size.channels:
            raise ValueError(
                f"{name}: expected (B, {self.size.channels}, H, W), got {tuple(image.shape)}"
            )

    def extract(self, sharp: torch.Tensor, blurry: torch.Tensor) -> torch.Tensor:
        """E(sharp, blurry): the code of the blur of ``blurry`` (same shape as ``sharp``)."""
        self._check("sharp", sharp)
        if blurry.shape != sharp.shape:
            raise ValueError(
                f"blurry {tuple(blurry.shape)} differs from sharp {tuple(sharp.shape)}"
            )
        features = self.feature_extractor(
            torch.cat((pad_to_multiple(sharp), pad_to_multiple(blurry)))
        )
        half = sharp.shape[0]
        return self.kernel_extractor(features[:half], features[half:])

    def blur(self, sharp: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """A(sharp, code): ``sharp`` blurred by ``code``, cropped back to its size."""
        self._check("sharp", sharp)
        height, width = sharp.shape[-2:]
        grid = code_grid(height, width)
        expected = (sharp.shape[0], self.size.kernel_dim, *grid)
        if tuple(code.shape) != expected:
            raise ValueError(
                f"code: expected {expected} for a {height}x{width} image, got {tuple(code.shape)}"
            )
        padded = pad_to_multiple(sharp)
        out = self.recon_trunk(self.adapter(self.feature_extractor(padded), code)) + padded
        return out[..., :height, :width]

    def forward(self, sharp: torch.Tensor, blurry: torch.Tensor) -> torch.Tensor:
        return self.blur(sharp, self.extract(sharp, blurry))


def parameter_counts(model: KernelWizard) -> dict[str, int]:
    """Parameters of each part and in all."""
    parts = ("feature_extractor", "kernel_extractor", "adapter", "recon_trunk")
    counts = {p: sum(t.numel() for t in getattr(model, p).parameters()) for p in parts}
    counts["total"] = sum(counts.values())
    return counts


def load_weights(model: KernelWizard, path: str | os.PathLike) -> None:
    """Load a state dict saved from the reference ``KernelWizard`` (or this class) into
    ``model``: a ``module.`` prefix (DataParallel) is dropped, and the names must match
    exactly.

    Raises:
        ValueError: names missing or unexpected, or shapes that differ (another size),
            naming the file and the first few names.
    """
    state: Any = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a state dict of KernelWizard weights")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    problems = []
    for what, names in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if names:
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            problems.append(f"{what}: {shown}")
    if problems:
        raise ValueError(f"{path}: does not fit the kernel-space networks ({'; '.join(problems)})")
    model.load_state_dict(state)
