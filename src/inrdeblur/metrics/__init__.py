"""Image quality metrics: PSNR and SSIM (:mod:`.fidelity`), LPIPS (:mod:`.perceptual`) and
error maps for figures (:mod:`.errormap`); the shift-aligned protocol and error ratio
(:mod:`.aligned`) and the kernel similarity of blind fits (:mod:`.kernels`).

All functions take ``(estimate, reference)`` float images in [0, 1]. Importing this
package does not import torch; :class:`LPIPS` imports it when constructed.
"""

from inrdeblur.metrics.errormap import error_map, error_map_rgb
from inrdeblur.metrics.fidelity import psnr, ssim
from inrdeblur.metrics.perceptual import BACKBONE_FILENAME, LPIPS, LPIPS_HELP, backbone_path

__all__ = [
    "BACKBONE_FILENAME",
    "LPIPS",
    "LPIPS_HELP",
    "backbone_path",
    "error_map",
    "error_map_rgb",
    "psnr",
    "ssim",
]
