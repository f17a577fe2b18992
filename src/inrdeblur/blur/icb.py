"""ICB: the Image Compositing Blur of Torres and Kämäräinen (SCIA 2023, arXiv 2303.09334).

Depth-aware camera-shake blur with parallax. The depth map is cut into layers inside which
the translational blur changes by less than ``blur_diff`` px; each layer gets one kernel
from the camera trajectory at its representative depth, and the blurred layers are
composited far to near with feathered, occlusion-weighted alpha mattes:

    blurry = sum_l A_l * (k_l conv latent),    sum_l A_l = 1 per pixel,  sum k_l = 1.

The steps follow the reference code ``germanftv/ParallaxICB`` (``icb_spec.md`` §3):

1. :func:`depth_bins` (§3.1): bins ``b_0 > ... > b_{L-1}`` from the candidates
   ``D_{l,a} = 2 C_a / (2 n l + 1)``, ``C_a = max_k |t_{k,a}| f_a``.
2. :func:`layer_masks` (§3.2): layer 0 is ``D >= b_0``, layer l is ``b_l <= D < b_{l-1}``;
   index order is far to near.
3. :func:`representative_depths` and :func:`layer_kernels` (§3.3): the mean depth of each
   layer (``b_0`` for layer 0, ``b_l`` for an empty layer); kernels are PSF histograms of the
   rounded shifts (:meth:`Trajectory.shifts`) on one common odd support ``S``.
4. :func:`alpha_mattes` (§3.4): dilation of each mask by ``[k_l > 1/S^2]`` (Minkowski sum),
   Gaussian feathering truncated to the blur extent, occlusion by the nearer layers, and
   per-pixel renormalisation.
5. :class:`ICBBlur` (§3.5): the compositing on a latent with an ``S // 2`` margin, by FFT
   over spatial tiles (bounded memory) or by direct grouped convolution.

Deviations from the reference, each a guard of a case where the reference divides by zero
or fails, never a change where it works:

- zero x/y translation (``C = 0`` on both axes) gives one layer with bin ``b_0 = 0`` that
  covers every depth (the reference builds all-zero bins and divides by a zero depth);
- when the nearest depth equals a candidate exactly and no candidate lies below it, that
  candidate is the last bin (the reference takes the maximum of an empty set, or a 0 bin);
- ``max_layers`` levels that stop above the nearest depth raise ``ValueError`` (the
  reference fails on the same empty set);
- duplicate candidates (for example ``C_x = C_y``) are merged: the reference keeps both,
  which only adds layers that are always empty;
- an empty structuring element (a kernel uniform over its support, e.g. ``S = 1``) is
  replaced by the kernel's support, so the dilation keeps the layer (the reference gives
  all-zero mattes and NaN output);
- a pixel where every matte vanishes (possible only when a structuring element misses its
  own centre) takes the hard layer mask instead of 0 / 0.

Like the reference, the mattes are stored densely, L H W float32 (about 130 MB for 35
layers at 720x1280). The forward pass skips, per tile, the layers whose matte is 0 there,
which changes nothing in the result.

>>> import numpy as np, torch
>>> from inrdeblur.blur.trajectory import hand_shake
>>> depth = np.full((32, 48), 3.0)
>>> depth[:, 24:] = 1.0
>>> op = ICBBlur.from_scene(depth, hand_shake(0, translation_std_m=5e-3), (200.0, 200.0))
>>> op.blur(torch.rand(1, 3, 32, 48)).shape
torch.Size([1, 3, 32, 48])
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.fft
import torch
import torch.nn.functional as F
from scipy.signal.windows import gaussian

from inrdeblur.blur.camera import scene_geometry, validate_depth
from inrdeblur.blur.kernels import psf_histogram, validate_kernel
from inrdeblur.blur.operator import BlurOperator
from inrdeblur.blur.trajectory import Trajectory, psf_offsets

METHODS = ("fft", "direct")
#: default output tile side in px of the FFT path (the FFT size is rounded up to 2^a 3^b 5^c)
DEFAULT_TILE = 256
#: default number of layers convolved at once
DEFAULT_LAYER_CHUNK = 8


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: must be a finite number > 0, got {value}")
    return value


def _max_layers(value: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"max_layers: must be an integer >= 1, got {value!r}")
    return int(value)


def _focal(focal_px: tuple[float, float]) -> tuple[float, float]:
    f = np.asarray(focal_px, dtype=np.float64).ravel()
    if f.shape != (2,) or not np.all(np.isfinite(f)) or np.any(f <= 0):
        raise ValueError(f"focal_px: must be two finite focal lengths (f_x, f_y) > 0 px, got {f}")
    return float(f[0]), float(f[1])


def translation_extent(trajectory: Trajectory, focal_px: tuple[float, float]) -> np.ndarray:
    """``C_a = max_k |t_{k,a}| f_a`` for a = x, y: (2,) float64 in px * metres (spec §3.1).

    A point at depth ``Z`` moves by at most ``C_a / Z`` px along axis ``a``.
    """
    fx, fy = _focal(focal_px)
    return np.abs(trajectory.translation[:, :2]).max(axis=0) * np.array([fx, fy])


def depth_bins(
    extent_px_m: tuple[float, float] | np.ndarray,
    min_depth: float,
    blur_diff: float = 1.0,
    max_layers: int = 100,
) -> np.ndarray:
    """Depth bins inside which the translational blur varies by less than ``blur_diff`` px.

    Spec §3.1 (``LayersGenerator.compute_depth_bins``). Candidates per axis a with
    ``C_a > 0`` are ``D_{l,a} = 2 C_a / (2 n l + 1)`` for levels ``l = 0, 1, ...``; level
    ``l`` is kept when ``l = 0`` or ``max_a D_{l-1,a} > min_depth``, and ``l < max_layers``.
    ``limit`` is the largest kept candidate below ``min_depth``; the bins are all kept
    candidates of both axes that are ``>= limit``, merged and sorted descending, so the
    last bin is ``<= min_depth``.

    Args:
        extent_px_m: ``(C_x, C_y)`` px * metres (:func:`translation_extent`).
        min_depth: the nearest depth of the scene, metres > 0.
        blur_diff: ``n``, px of extra blur per layer, > 0.
        max_layers: levels per axis, >= 1.

    Returns:
        (L,) float64 metres, strictly descending. ``C = 0`` on both axes (no x/y
        translation) gives ``[0.0]``: one layer that covers every depth (the reference
        code has no guard here and divides by a zero depth).

    Raises:
        ValueError: bad arguments, or ``max_layers`` levels that stop short of ``min_depth``
            (the reference fails there too).
    """
    c = np.asarray(extent_px_m, dtype=np.float64).ravel()
    if c.shape != (2,) or not np.all(np.isfinite(c)) or np.any(c < 0):
        raise ValueError(f"depth_bins: extent must be two finite values >= 0 px*m, got {c}")
    min_depth = _positive("min_depth", min_depth)
    n = _positive("blur_diff", blur_diff)
    max_layers = _max_layers(max_layers)
    if not np.any(c > 0):
        return np.zeros(1)
    c = c[c > 0]
    levels = [0]
    for level in range(1, max_layers):
        if not np.any(2 * c / (2 * n * (level - 1) + 1) > min_depth):
            break
        levels.append(level)
    candidates = (
        2 * c[None, :] / (2 * n * np.asarray(levels, dtype=np.float64)[:, None] + 1)
    ).ravel()
    below = candidates[candidates < min_depth]
    if below.size:
        limit = below.max()
    elif np.any(candidates == min_depth):
        limit = min_depth
    else:
        raise ValueError(
            f"max_layers: {max_layers} levels of {n:g} px reach down to "
            f"{candidates.min():.4g} m only, but the nearest depth is {min_depth:.4g} m; "
            "raise max_layers or blur_diff"
        )
    return np.unique(candidates[candidates >= limit])[::-1].copy()


def layer_masks(depth: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """Far-to-near layer masks (spec §3.2): (H, W) metres, (L,) bins -> (L, H, W) bool.

    ``M_0 = [D >= b_0]``, ``M_l = [b_l <= D < b_{l-1}]``; they partition the image when
    ``b_{L-1} <= min D``.
    """
    beyond = depth[None] >= bins.to(depth.dtype)[:, None, None]
    masks = beyond.clone()
    masks[1:] &= ~beyond[:-1]
    return masks


def representative_depths(depth: torch.Tensor, masks: torch.Tensor, bins: np.ndarray) -> np.ndarray:
    """Depth of each layer's kernel (spec §3.3): (L,) float64 metres.

    Layer 0 uses ``b_0``, layer ``l > 0`` the mean depth over its mask, an empty layer
    ``b_l``. With the zero-translation bin ``b_0 = 0`` the mean depth of the image is used
    (the shifts do not depend on it then).
    """
    d = depth.to(torch.float64)
    z = np.array(bins, dtype=np.float64)
    for layer in range(1, len(z)):
        inside = d[masks[layer]]
        if inside.numel():
            z[layer] = float(inside.sum()) / inside.numel()
    if z[0] == 0:
        z[0] = float(d.mean())
    return z


def layer_kernels(
    trajectory: Trajectory, focal_px: tuple[float, float], depths: np.ndarray
) -> np.ndarray:
    """Per-layer kernels on one common odd support (spec §3.3): (L, S, S) float32.

    Shifts are :meth:`Trajectory.shifts` at each depth, rounded half up into PSF offsets
    (:func:`psf_offsets`); ``S = 2 max |offset| + 1`` over all layers and poses.
    """
    offsets = psf_offsets(trajectory.shifts(focal_px, np.asarray(depths, dtype=np.float64)))
    support = 2 * int(np.abs(offsets).max()) + 1
    return np.stack([psf_histogram(offsets[:, layer], support) for layer in range(len(depths))])


def structuring_element(kernel: torch.Tensor) -> torch.Tensor:
    """``B = [k > 1 / S^2]`` of an (S, S) kernel, (S, S) bool; the kernel's support when
    that is empty (a kernel uniform over its support, e.g. ``S = 1``; reference: empty)."""
    se = kernel > 1.0 / kernel.numel()
    return se if bool(se.any()) else kernel > 0


def _window(mask: torch.Tensor, reach: int) -> tuple[int, int, int, int] | None:
    """Bounding box ``(r0, r1, c0, c1)`` of ``mask`` grown by ``reach`` px and clipped to
    the image, or None for an empty mask. Outside it, anything within ``reach`` of the
    mask is 0, so the dilation and the feathering only need this window."""
    rows = torch.nonzero(mask.any(dim=1)).flatten()
    if rows.numel() == 0:
        return None
    cols = torch.nonzero(mask.any(dim=0)).flatten()
    h, w = mask.shape
    return (
        max(int(rows[0]) - reach, 0),
        min(int(rows[-1]) + 1 + reach, h),
        max(int(cols[0]) - reach, 0),
        min(int(cols[-1]) + 1 + reach, w),
    )


def dilate(mask: torch.Tensor, se: torch.Tensor) -> torch.Tensor:
    """Minkowski sum ``{p + b : p in mask, b in B}``, offsets ``b`` taken from the centre
    of the (S, S) element: (H, W) bool -> (H, W) bool, nothing enters from outside.

    This is where a layer's blurred content spreads: a PSF offset (row, col) moves content
    by +(row, col). Computed as the true convolution of the mask with ``B`` by FFT in
    float64 and thresholded at 0.5 (the counts are integers far below 2^40, so it is
    exact), on the mask's bounding box grown by ``S // 2``.
    """
    s = se.shape[0]
    c = s // 2
    out = torch.zeros_like(mask, dtype=torch.bool)
    window = _window(mask, c)
    if window is None:
        return out
    r0, r1, c0, c1 = window
    h, w = r1 - r0, c1 - c0
    size = (h + s - 1, w + s - 1)
    spectrum = torch.fft.rfft2(mask[r0:r1, c0:c1].to(torch.float64), s=size)
    spectrum *= torch.fft.rfft2(se.to(torch.float64), s=size)
    full = torch.fft.irfft2(spectrum, s=size)
    out[r0:r1, c0:c1] = full[c : c + h, c : c + w] > 0.5
    return out


def feather_window(extent: int, sigma: float) -> np.ndarray:
    """1-D factor of the feathering window: ``gaussian(e, sigma)`` normalised to sum 1, so
    its outer product with itself is the reference's 2-D window normalised to 1 (§3.4)."""
    w = gaussian(extent, sigma)
    return w / w.sum()


def se_extent(se: torch.Tensor) -> int:
    """``e = max(#rows, #cols of B with any 1)``, made odd: ``2 (e // 2) + 1`` (§3.4)."""
    rows = int(se.any(dim=1).sum())
    cols = int(se.any(dim=0).sum())
    e = max(rows, cols)
    return 2 * (e // 2) + 1


def feather(mask: torch.Tensor, extent: int, sigma: float) -> torch.Tensor:
    """Gaussian feathering with replicate padding: (H, W) -> (H, W) float32 (as the
    reference), by two 1-D passes of :func:`feather_window` on the mask's bounding box
    grown by ``extent // 2`` (replicate padding where the box meets the image border,
    zeros inside the image, where the mask is 0)."""
    if extent == 1:
        return mask.to(torch.float32)
    out = torch.zeros(mask.shape, dtype=torch.float32, device=mask.device)
    p = extent // 2
    window = _window(mask, p)
    if window is None:
        return out
    r0, r1, c0, c1 = window
    h, w = mask.shape
    x = mask[r0:r1, c0:c1].to(torch.float32)[None, None]
    edge = (p * (c0 == 0), p * (c1 == w), p * (r0 == 0), p * (r1 == h))
    x = F.pad(x, edge, mode="replicate")
    x = F.pad(x, tuple(p - e for e in edge))
    k = torch.as_tensor(feather_window(extent, sigma), dtype=torch.float32, device=mask.device)
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    x = F.conv2d(x, k.view(1, 1, -1, 1))
    out[r0:r1, c0:c1] = x[0, 0].clamp_(0.0, 1.0)
    return out


def alpha_mattes(masks: torch.Tensor, kernels: torch.Tensor, sigma: float = 4.0) -> torch.Tensor:
    """Alpha mattes of the layers (spec §3.4): (L, H, W) bool, (L, S, S) -> (L, H, W) float32.

    ``S~_l = G_l conv dilate(M_l, [k_l > 1/S^2])`` (replicate padding, Gaussian of
    ``sigma`` px truncated to the element's odd extent), ``O_l = prod_{j > l} (1 - S~_j)``,
    ``A_l = S~_l O_l / sum_j S~_j O_j``. Pixels where every ``S~_j O_j`` is 0 take their
    hard mask (a guard; the reference divides 0 by 0 there).
    """
    sigma = _positive("sigma", sigma)
    n_layers, h, w = masks.shape
    mattes = torch.zeros((n_layers, h, w), dtype=torch.float32, device=masks.device)
    # Empty layers keep an all-zero matte and change neither the occlusion nor the sum.
    filled = [layer for layer in range(n_layers) if bool(masks[layer].any())]
    for layer in filled:
        se = structuring_element(kernels[layer])
        mattes[layer] = feather(dilate(masks[layer], se), se_extent(se), sigma)
    visible = torch.ones((h, w), dtype=torch.float64, device=masks.device)
    total = torch.zeros((h, w), dtype=torch.float64, device=masks.device)
    for layer in reversed(filled):
        smoothed = mattes[layer].to(torch.float64)
        alpha = smoothed * visible
        total += alpha
        mattes[layer] = alpha.to(torch.float32)
        visible *= 1.0 - smoothed
    empty = total <= 0
    scale = torch.where(empty, 1.0, total).reciprocal()
    for layer in filled:
        mattes[layer] = (mattes[layer] * scale).to(torch.float32)
    if bool(empty.any()):
        mattes[:, empty] = masks[:, empty].to(torch.float32)
    return mattes


def _fft_size(n: int) -> int:
    return int(scipy.fft.next_fast_len(int(n), real=True))


class ICBBlur(BlurOperator):
    """ICB parallax blur: (B, C, H + S - 1, W + S - 1) latent -> (B, C, H, W) blurry.

    ``blurry = sum_l A_l * (k_l conv latent)`` with a 'valid' true convolution per channel
    (a PSF offset (row, col) moves content by +(row, col), as :func:`uniform.convolve`),
    Torres and Kämäräinen (SCIA 2023) §3.5. Linear and differentiable in the latent;
    any batch size and channel count; CPU or CUDA.

    Buffers: ``kernels`` (L, S, S) float32 summing to 1, ``mattes`` (L, H, W) float32
    summing to 1 per pixel, ``depth_bins`` (L,) and ``layer_depths`` (L,) float64 metres.

    Args:
        kernels: (L, S, S) layer kernels, far to near, S odd.
        mattes: (L, H, W) alpha mattes.
        depth_bins, layer_depths: (L,) metres, kept for the record.
        method: 'fft' (tiled FFT convolution) or 'direct' (grouped conv2d per tile).
        tile: output tile side in px; the FFT size is rounded up to a 2^a 3^b 5^c size and
            the tile grows to fill it. Memory per tile is about
            ``B C layer_chunk (tile + S)^2`` complex64 values.
        layer_chunk: layers convolved at once.

    Build one from a depth map and a trajectory with :meth:`from_scene`.
    """

    model = "icb"
    scene_inputs = ("depth", "trajectory", "intrinsics")

    def __init__(
        self,
        kernels: torch.Tensor | np.ndarray,
        mattes: torch.Tensor | np.ndarray,
        depth_bins: np.ndarray,
        layer_depths: np.ndarray,
        *,
        method: str = "fft",
        tile: int = DEFAULT_TILE,
        layer_chunk: int = DEFAULT_LAYER_CHUNK,
    ):
        kernels = torch.as_tensor(kernels, dtype=torch.float32)
        mattes = torch.as_tensor(mattes, dtype=torch.float32)
        if kernels.ndim != 3 or kernels.shape[1] != kernels.shape[2] or kernels.shape[1] % 2 == 0:
            raise ValueError(f"kernels: must be (L, S, S) with S odd, got {tuple(kernels.shape)}")
        if mattes.ndim != 3 or mattes.shape[0] != kernels.shape[0]:
            raise ValueError(
                f"mattes: must be (L, H, W) with L = {kernels.shape[0]}, got {tuple(mattes.shape)}"
            )
        for layer, k in enumerate(kernels.cpu().numpy()):
            validate_kernel(k, f"kernels[{layer}]")
        support = int(kernels.shape[1])
        h, w = int(mattes.shape[1]), int(mattes.shape[2])
        if support > h or support > w:
            raise ValueError(
                f"ICB: kernel support S = {support} px is larger than the image {h}x{w} px; "
                "the camera motion is too large for this image"
            )
        if method not in METHODS:
            raise ValueError(f"method: must be one of {METHODS}, got {method!r}")
        if isinstance(tile, bool) or int(tile) != tile or tile < 1:
            raise ValueError(f"tile: must be an integer >= 1 px, got {tile!r}")
        if isinstance(layer_chunk, bool) or int(layer_chunk) != layer_chunk or layer_chunk < 1:
            raise ValueError(f"layer_chunk: must be an integer >= 1, got {layer_chunk!r}")
        top = support // 2
        super().__init__((h, w), (top, top, top, top))
        self.method = method
        self.tile = int(tile)
        self.layer_chunk = int(layer_chunk)
        self.register_buffer("kernels", kernels.contiguous())
        self.register_buffer("mattes", mattes.contiguous())
        for name, values in (("depth_bins", depth_bins), ("layer_depths", layer_depths)):
            values = torch.as_tensor(np.asarray(values, dtype=np.float64), device=kernels.device)
            if values.shape != (kernels.shape[0],):
                raise ValueError(
                    f"{name}: must be ({kernels.shape[0]},) metres, got {tuple(values.shape)}"
                )
            self.register_buffer(name, values)
        self._spectra: dict[tuple, torch.Tensor] = {}
        self._plans: dict[tuple, list] = {}

    @classmethod
    def from_scene(
        cls,
        depth: np.ndarray | torch.Tensor,
        trajectory: Trajectory,
        focal_px: tuple[float, float],
        *,
        blur_diff: float = 1.0,
        sigma: float = 4.0,
        max_layers: int = 100,
        method: str = "fft",
        tile: int = DEFAULT_TILE,
        layer_chunk: int = DEFAULT_LAYER_CHUNK,
        device: str | torch.device | None = None,
    ) -> ICBBlur:
        """Build the operator of a scene (spec §3.1-3.4).

        Args:
            depth: (H, W) metres, finite and > 0.
            trajectory: camera poses; only x/y translation and x/y rotation are used.
            focal_px: ``(f_x, f_y)`` px, i.e. ``(K[0, 0], K[1, 1])``.
            blur_diff: px of extra translational blur per layer (reference: 1).
            sigma: std of the matte feathering Gaussian, px (reference: 4).
            max_layers: depth levels per axis (reference: 100).
            method, tile, layer_chunk: see :class:`ICBBlur`.
            device: where the mattes are computed and the operator lives (default CPU).

        Raises:
            ValueError: bad depth (not 2-D, NaN/inf, <= 0), bad settings, or a kernel
                support larger than the image.
        """
        d = validate_depth(depth)
        if not isinstance(trajectory, Trajectory):
            raise ValueError(f"trajectory: expected a Trajectory, got {type(trajectory).__name__}")
        focal = _focal(focal_px)
        blur_diff = _positive("blur_diff", blur_diff)
        sigma = _positive("sigma", sigma)
        max_layers = _max_layers(max_layers)
        bins = depth_bins(translation_extent(trajectory, focal), d.min(), blur_diff, max_layers)
        depth_t = torch.as_tensor(d, device=device)
        masks = layer_masks(depth_t, torch.as_tensor(bins, device=depth_t.device))
        z = representative_depths(depth_t, masks, bins)
        kernels = layer_kernels(trajectory, focal, z)
        support = kernels.shape[1]
        if support > min(d.shape):
            raise ValueError(
                f"ICB: kernel support S = {support} px is larger than the image "
                f"{d.shape[0]}x{d.shape[1]} px; the camera motion is too large for this image"
            )
        kernels_t = torch.as_tensor(kernels, device=depth_t.device)
        mattes = alpha_mattes(masks, kernels_t, sigma)
        return cls(kernels_t, mattes, bins, z, method=method, tile=tile, layer_chunk=layer_chunk)

    @classmethod
    def from_recipe(
        cls, settings: dict[str, Any], image_shape: tuple[int, int], **inputs: Any
    ) -> ICBBlur:
        """The blur of a ``model: icb`` recipe (``blur_diff``, ``matte_sigma``,
        ``max_layers``) from the scene's ``depth``, ``trajectory`` and ``intrinsics``."""
        depth, intrinsics = scene_geometry(cls.model, image_shape, inputs)
        return cls.from_scene(
            depth,
            inputs["trajectory"],
            focal_px=(float(intrinsics[0, 0]), float(intrinsics[1, 1])),
            blur_diff=settings["blur_diff"],
            sigma=settings["matte_sigma"],
            max_layers=settings["max_layers"],
        )

    def crop(self, row0: int, row1: int, col0: int, col1: int) -> BlurOperator:
        """The same layer kernels with the tile's mattes, for a tile of at least S x S px
        (smaller ones are embedded, :meth:`BlurOperator.crop`)."""
        if self.is_whole_image(row0, row1, col0, col1):
            return self
        if min(row1 - row0, col1 - col0) < self.support:
            return super().crop(row0, row1, col0, col1)
        return ICBBlur(
            self.kernels,
            self.mattes[:, row0:row1, col0:col1],
            self.depth_bins.cpu().numpy(),
            self.layer_depths.cpu().numpy(),
            method=self.method,
            tile=self.tile,
            layer_chunk=self.layer_chunk,
        )

    # -- geometry ---------------------------------------------------------------------

    @property
    def n_layers(self) -> int:
        return int(self.kernels.shape[0])

    @property
    def support(self) -> int:
        return int(self.kernels.shape[1])

    def _tiling(self) -> tuple[int, int, int, int]:
        """Output tile (t_h, t_w) and FFT size (n_h, n_w): n = next fast size of tile + S - 1."""
        s = self.support
        h, w = self.image_shape
        n_h = _fft_size(min(self.tile, h) + s - 1)
        n_w = _fft_size(min(self.tile, w) + s - 1)
        return min(n_h - s + 1, h), min(n_w - s + 1, w), n_h, n_w

    def _apply(self, fn, *args, **kwargs):
        self._spectra = {}
        self._plans = {}
        return super()._apply(fn, *args, **kwargs)

    def _spectrum(self, n_h: int, n_w: int, dtype: torch.dtype, flipped: bool) -> torch.Tensor:
        """rfft2 of the (flipped) kernels zero-padded to (n_h, n_w): (L, n_h, n_w // 2 + 1)."""
        key = (n_h, n_w, dtype, self.kernels.device, flipped)
        if key not in self._spectra:
            with torch.no_grad():
                k = self.kernels.to(dtype)
                if flipped:
                    k = torch.flip(k, dims=(1, 2))
                self._spectra[key] = torch.fft.rfft2(k, s=(n_h, n_w))
        return self._spectra[key]

    def _plan(self, t_h: int, t_w: int) -> list[tuple[int, int, int, int, list[torch.Tensor]]]:
        """Tiles ``(i0, th, j0, tw, chunks)`` of the output; ``chunks`` are the indices of
        the layers whose matte is non-zero in the tile, ``layer_chunk`` at a time. Layers
        with an all-zero matte contribute exactly 0 there and are skipped."""
        key = (t_h, t_w, self.mattes.device)
        if key not in self._plans:
            h, w = self.image_shape
            plan = []
            with torch.no_grad():
                for i0 in range(0, h, t_h):
                    th = min(t_h, h - i0)
                    for j0 in range(0, w, t_w):
                        tw = min(t_w, w - j0)
                        region = self.mattes[:, i0 : i0 + th, j0 : j0 + tw]
                        idx = torch.nonzero(region.flatten(1).amax(dim=1) > 0).flatten()
                        plan.append((i0, th, j0, tw, list(idx.split(self.layer_chunk))))
            self._plans[key] = plan
        return self._plans[key]

    # -- forward / adjoint ------------------------------------------------------------

    def forward(self, latent: torch.Tensor, method: str | None = None) -> torch.Tensor:
        """(B, C, H + S - 1, W + S - 1) latent -> (B, C, H, W); ``method`` overrides."""
        self.check_latent(latent)
        method = self._method(method)
        b, c = latent.shape[:2]
        s = self.support
        t_h, t_w, n_h, n_w = self._tiling()
        if method == "fft":
            spectra = self._spectrum(n_h, n_w, latent.dtype, flipped=False)
        else:
            weight = torch.flip(self.kernels, dims=(1, 2)).to(latent.dtype)[:, None]
        rows: dict[int, list[torch.Tensor]] = {}
        for i0, th, j0, tw, chunks in self._plan(t_h, t_w):
            x = latent[..., i0 : i0 + th + s - 1, j0 : j0 + tw + s - 1]
            alpha = self.mattes[:, i0 : i0 + th, j0 : j0 + tw].to(latent.dtype)
            out = latent.new_zeros((b, c, th, tw))
            if method == "fft":
                spectrum = torch.fft.rfft2(x, s=(n_h, n_w))[:, :, None]
            for idx in chunks:
                if method == "fft":
                    y = torch.fft.irfft2(spectrum * spectra[idx], s=(n_h, n_w))
                    y = y[..., s - 1 : s - 1 + th, s - 1 : s - 1 + tw]
                else:
                    y = F.conv2d(x.reshape(b * c, 1, *x.shape[-2:]), weight[idx])
                    y = y.reshape(b, c, -1, th, tw)
                out = out + (y * alpha[idx]).sum(dim=2)
            rows.setdefault(i0, []).append(out)
        return torch.cat([torch.cat(band, dim=-1) for band in rows.values()], dim=-2)

    def adjoint(self, blurry: torch.Tensor, method: str | None = None) -> torch.Tensor:
        """``sum_l k_l corr (A_l * y)``, 'full': (B, C, H, W) -> (B, C, H + S - 1, W + S - 1).

        Tiled overlap-add; on the FFT path the layer sum is taken in the Fourier domain.
        """
        if blurry.ndim != 4 or tuple(blurry.shape[-2:]) != self.image_shape:
            raise ValueError(
                f"ICBBlur.adjoint: expected a (B, C, {self.image_shape[0]}, "
                f"{self.image_shape[1]}) image, got {tuple(blurry.shape)}"
            )
        method = self._method(method)
        b, c = blurry.shape[:2]
        s = self.support
        t_h, t_w, n_h, n_w = self._tiling()
        if method == "fft":
            spectra = self._spectrum(n_h, n_w, blurry.dtype, flipped=True)
        else:
            weight = torch.flip(self.kernels, dims=(1, 2)).to(blurry.dtype)[:, None]
        out = blurry.new_zeros((b, c, *self.latent_shape))
        for i0, th, j0, tw, chunks in self._plan(t_h, t_w):
            y = blurry[..., i0 : i0 + th, j0 : j0 + tw]
            alpha = self.mattes[:, i0 : i0 + th, j0 : j0 + tw].to(blurry.dtype)
            acc = None
            for idx in chunks:
                z = y[:, :, None] * alpha[idx]
                if method == "fft":
                    part = (torch.fft.rfft2(z, s=(n_h, n_w)) * spectra[idx]).sum(dim=2)
                else:
                    z = z.reshape(b * c, -1, th, tw)
                    part = F.conv_transpose2d(z, weight[idx]).reshape(b, c, th + s - 1, tw + s - 1)
                acc = part if acc is None else acc + part
            if acc is None:
                continue
            if method == "fft":
                acc = torch.fft.irfft2(acc, s=(n_h, n_w))[..., : th + s - 1, : tw + s - 1]
            out[..., i0 : i0 + th + s - 1, j0 : j0 + tw + s - 1] += acc
        return out

    def _method(self, method: str | None) -> str:
        method = method or self.method
        if method not in METHODS:
            raise ValueError(f"method: must be one of {METHODS}, got {method!r}")
        return method

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "n_layers": self.n_layers,
            "support": self.support,
            "depth_bins": [float(v) for v in self.depth_bins.cpu()],
            "layer_depths": [float(v) for v in self.layer_depths.cpu()],
            "method": self.method,
            "tile": self.tile,
        }


#: the operator class of this blur model (:mod:`inrdeblur.blur.models`)
OPERATOR = ICBBlur
