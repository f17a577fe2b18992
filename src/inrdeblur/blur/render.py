"""A reference blurry image by forward reprojection of a single RGB-D view.

For scenes that have one sharp view (RGB + depth + trajectory + intrinsics) and no real
blurry photograph, :func:`render_reprojection` renders the scene from every pose of the
trajectory and averages the views (constant exposure). Each sharp pixel is a 3-D point
that is forward-projected (splatted) into the view, with a z-buffer so nearer surfaces
hide farther ones. This model is independent of both ICB (depth layers, fronto-parallel
shifts, alpha mattes) and PWB (per-pixel gather with rounded shifts, no occlusion), so
either can be compared against it.

Geometry follows the PWB model (Torres and Kämäräinen, SCIA 2023, §4 of the spec) so
the two agree for a constant depth and pure translation: a pixel ``x = (u, v, 1)``
(``u`` column, ``v`` row) at depth ``d`` maps under pose ``k`` to

    x' = K (R_k + t_k e3^T / d) K^-1 x,      s = x' / x'_z - x = (s_x, s_y),

and lands at column ``u + s_x`` and row ``v - s_y`` (y up, rows down: the PSF offset of
:func:`inrdeblur.blur.trajectory.psf_offsets` is ``(row, col) = (-s_y, +s_x)``). Its
depth in view ``k`` is ``d x'_z``, the z of ``R_k X + t_k``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from inrdeblur.blur.camera import validate_depth, validate_intrinsics
from inrdeblur.blur.trajectory import Trajectory

#: positions within this many pixels of an integer are snapped to it, so rounding noise
#: of the projection (1e-13 px) neither blurs integer shifts nor spills weight onto holes
SNAP_PX = 1e-6


def _snap(x: torch.Tensor) -> torch.Tensor:
    nearest = torch.round(x)
    return torch.where((x - nearest).abs() < SNAP_PX, nearest, x)


def _project(
    cols: torch.Tensor,
    rows: torch.Tensor,
    depth: torch.Tensor,
    rotation: torch.Tensor,
    translation: torch.Tensor,
    intrinsics: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Shifts ``(s_x, s_y)`` and view depth of pixels under one pose (float64 tensors).

    With ``K``'s last row (0, 0, 1), ``e3^T K^-1 x = 1``, so
    ``x' = K R K^-1 x + K t / d``.
    """
    homography = intrinsics @ rotation @ torch.linalg.inv(intrinsics)
    kt = intrinsics @ translation
    xs = homography[0, 0] * cols + homography[0, 1] * rows + homography[0, 2] + kt[0] / depth
    ys = homography[1, 0] * cols + homography[1, 1] * rows + homography[1, 2] + kt[1] / depth
    zs = homography[2, 0] * cols + homography[2, 1] * rows + homography[2, 2] + kt[2] / depth
    return xs / zs - cols, ys / zs - rows, zs * depth, zs


def reproject(
    depth: np.ndarray,
    rotation: np.ndarray,
    translation: np.ndarray,
    intrinsics: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each pixel of the sharp view lands under one pose, and its depth there.

    Args:
        depth: (H, W) metres, finite and > 0.
        rotation: (3, 3) rotation matrix ``R_k`` (reference frame to view ``k``).
        translation: (3,) metres, ``t_k``.
        intrinsics: (3, 3) pixel matrix ``K``.

    Returns:
        ``(row, col, view_depth)``, each (H, W) float64: the landing position in pixels
        (``row = v - s_y``, ``col = u + s_x``) and the point's depth in view ``k`` in metres
        (<= 0 for points behind the camera).
    """
    d = validate_depth(depth)
    k = torch.from_numpy(validate_intrinsics(intrinsics))
    rot = torch.as_tensor(np.asarray(rotation, dtype=np.float64).reshape(3, 3))
    t = torch.as_tensor(np.asarray(translation, dtype=np.float64).reshape(3))
    h, w = d.shape
    rows, cols = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij"
    )
    s_x, s_y, view_depth, _ = _project(cols, rows, torch.from_numpy(d), rot, t, k)
    return (rows - s_y).numpy(), (cols + s_x).numpy(), view_depth.numpy()


def render_reprojection(
    sharp: np.ndarray,
    depth: np.ndarray,
    trajectory: Trajectory,
    intrinsics: np.ndarray,
    depth_tolerance: float = 0.01,
    device: str | torch.device = "cpu",
) -> tuple[np.ndarray, dict[str, Any]]:
    """Render a blurry image by splatting the sharp RGB-D view into every pose and averaging.

    For each pose ``k`` (equal weights, constant exposure):

    1. Every sharp pixel is projected to its sub-pixel landing position and view depth
       (module docstring). Points behind the camera are dropped.
    2. A z-buffer holds, per pixel, the smallest view depth of the points whose nearest
       pixel it is (nearest = the landing shift rounded half up, as PWB rounds).
    3. Each point is splatted bilinearly onto its four neighbouring pixels, a tap only
       where the point is no farther than that pixel's z-buffer depth times
       ``1 + depth_tolerance`` (a pixel with an empty z-buffer accepts any point), and
       only when the point is visible at its own nearest pixel. The view is the
       splatted colour divided by the splatted weight.
    4. Pixels that receive no weight (disocclusions, the image border) are holes. They
       are filled as PWB would fill them: from the sharp image at the pixel's own
       backward-gathered position ``(v + round(s_y), u - round(s_x))``, using the pixel's
       own depth, clamped to the image (replicate border).

    Args:
        sharp: (H, W, 3) float image in [0, 1] (the reference pose's view).
        depth: (H, W) metres, finite and > 0, of the sharp view.
        trajectory: the camera poses; ``R_k`` from :meth:`Trajectory.rotation_matrices`.
        intrinsics: (3, 3) pixel matrix ``K``.
        depth_tolerance: relative depth margin of the visibility test (0.01 = 1 %).
        device: torch device to compute on.

    Returns:
        ``(blurry, info)``: blurry (H, W, 3) float32; info with ``hole_fraction`` (the
        fraction of pixel-views that were holes, in [0, 1]), ``hole_map`` ((H, W)
        float32, per pixel the fraction of views in which it was a hole) and
        ``n_poses``.

    >>> import numpy as np
    >>> from inrdeblur.blur.trajectory import Trajectory
    >>> still = Trajectory(np.zeros((2, 3)), np.zeros((2, 3)), np.arange(2.0), 0)
    >>> image = np.random.default_rng(0).random((8, 8, 3))
    >>> K = np.array([[50.0, 0, 4], [0, 50.0, 4], [0, 0, 1]])
    >>> blurry, info = render_reprojection(image, np.ones((8, 8)), still, K)
    >>> bool(np.allclose(blurry, image)), info["hole_fraction"], info["n_poses"]
    (True, 0.0, 2)
    """
    image = np.asarray(sharp)
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise ValueError(f"sharp: must be an (H, W, 3) image, got shape {image.shape}")
    image = image.astype(np.float64)
    n_bad = int((~np.isfinite(image)).sum())
    if n_bad:
        raise ValueError(f"sharp: {n_bad} non-finite values")
    if image.min() < 0 or image.max() > 1:
        raise ValueError(
            f"sharp: values must be in [0, 1], got [{image.min():.4g}, {image.max():.4g}]"
        )
    h, w = image.shape[:2]
    d = validate_depth(depth, (h, w))
    k = validate_intrinsics(intrinsics)
    if not isinstance(trajectory, Trajectory):
        raise TypeError(f"trajectory: expected a Trajectory, got {type(trajectory).__name__}")
    if not (np.isfinite(depth_tolerance) and depth_tolerance >= 0):
        raise ValueError(f"depth_tolerance: must be finite and >= 0, got {depth_tolerance!r}")

    dev = torch.device(device)
    f64 = {"dtype": torch.float64, "device": dev}
    colours = torch.as_tensor(image.reshape(-1, 3), **f64)
    # Each splat tap carries (weight, weight * RGB), built per view from this (4 HW, 4);
    # float32 halves the memory traffic of the splat, the geometry stays float64.
    ones_rgb = torch.cat([torch.ones(h * w, 1, **f64), colours], dim=1).repeat(4, 1).float()
    depth_t = torch.as_tensor(d, **f64)
    k_t = torch.as_tensor(k, **f64)
    rows, cols = torch.meshgrid(torch.arange(h, **f64), torch.arange(w, **f64), indexing="ij")
    rotations = torch.as_tensor(trajectory.rotation_matrices(), **f64)
    translations = torch.as_tensor(trajectory.translation, **f64)
    grid = (rows.reshape(-1), cols.reshape(-1), depth_t.reshape(-1))

    total = torch.zeros(h * w, 3, **f64)
    holes = torch.zeros(h * w, **f64)
    for pose in range(trajectory.n_poses):
        view, hole = _render_view(
            grid,
            colours,
            ones_rgb,
            (h, w),
            rotations[pose],
            translations[pose],
            k_t,
            1.0 + float(depth_tolerance),
        )
        total += view
        holes += hole.to(torch.float64)

    n = trajectory.n_poses
    blurry = (total / n).reshape(h, w, 3).cpu().numpy().astype(np.float32)
    hole_map = (holes / n).reshape(h, w).cpu().numpy().astype(np.float32)
    info = {
        "hole_fraction": float(holes.sum().item() / (n * h * w)),
        "hole_map": hole_map,
        "n_poses": n,
    }
    return blurry, info


def _render_view(
    grid: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    colours: torch.Tensor,
    ones_rgb: torch.Tensor,
    shape: tuple[int, int],
    rotation: torch.Tensor,
    translation: torch.Tensor,
    intrinsics: torch.Tensor,
    margin: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One view of :func:`render_reprojection`: (HW, 3) colours and the (HW,) hole mask.

    Rejected splat taps are sent, with zero weight, to a spare bin at index ``H W``, so
    the whole view is a few dense tensor operations without boolean indexing.
    """
    h, w = shape
    trash = h * w
    rows, cols, depth = grid
    s_x, s_y, z, zs = _project(cols, rows, depth, rotation, translation, intrinsics)
    in_front = (zs > 0) & torch.isfinite(s_x) & torch.isfinite(s_y)
    s_x = torch.where(in_front, _snap(s_x), 0.0)
    s_y = torch.where(in_front, _snap(s_y), 0.0)
    z = torch.where(in_front, z, torch.inf)
    round_x = torch.floor(s_x + 0.5)  # PWB rounds shifts half up
    round_y = torch.floor(s_y + 0.5)

    # z-buffer on the nearest pixel.
    near_row = rows - round_y
    near_col = cols + round_x
    near_inside = in_front & (near_row >= 0) & (near_row < h) & (near_col >= 0) & (near_col < w)
    near_flat = torch.where(near_inside, near_row * w + near_col, trash).long()
    zbuf = torch.full((h * w + 1,), torch.inf, dtype=z.dtype, device=z.device)
    zbuf.scatter_reduce_(0, near_flat, z, reduce="amin")
    zbuf[trash] = torch.inf
    visible = in_front & (z <= zbuf[near_flat] * margin)

    # Bilinear splat of the visible points onto their four neighbours.
    land_row = rows - s_y
    land_col = cols + s_x
    row0 = torch.floor(land_row)
    col0 = torch.floor(land_col)
    frac_row = land_row - row0
    frac_col = land_col - col0
    tap_row = torch.stack([row0, row0, row0 + 1, row0 + 1])
    tap_col = torch.stack([col0, col0 + 1, col0, col0 + 1])
    tap_weight = torch.stack(
        [
            (1 - frac_row) * (1 - frac_col),
            (1 - frac_row) * frac_col,
            frac_row * (1 - frac_col),
            frac_row * frac_col,
        ]
    )
    inside = (tap_row >= 0) & (tap_row < h) & (tap_col >= 0) & (tap_col < w) & visible
    tap_flat = torch.where(inside, tap_row * w + tap_col, trash).long()
    keep = inside & (z <= zbuf[tap_flat] * margin)
    tap_flat = torch.where(keep, tap_flat, trash).reshape(-1)
    tap_weight = torch.where(keep, tap_weight, 0.0).reshape(-1).to(ones_rgb.dtype)
    splat = torch.zeros(h * w + 1, 4, dtype=ones_rgb.dtype, device=ones_rgb.device)
    splat.index_add_(0, tap_flat, ones_rgb * tap_weight[:, None])
    splat = splat[:trash].to(colours.dtype)
    weight = splat[:, 0]
    hole = weight <= 0
    view = splat[:, 1:] / torch.where(hole, 1.0, weight)[:, None]

    # Holes: gather as PWB would, with the pixel's own rounded shift, replicate border.
    src_row = (rows + round_y).clamp(0, h - 1)
    src_col = (cols - round_x).clamp(0, w - 1)
    gathered = colours[(src_row * w + src_col).long()]
    return torch.where(hole[:, None], gathered, view), hole
