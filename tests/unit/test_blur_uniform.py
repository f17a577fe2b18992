"""Uniform blur: convolution against SciPy, kernel validation, the motion-kernel generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage, signal

from inrdeblur.blur.kernels import random_motion_kernel, validate_kernel
from inrdeblur.blur.uniform import (
    UniformBlur,
    ValidConvolution,
    convolve,
    fft_full_correlation,
    fft_valid_convolution,
    full_correlation,
    kernel_padding,
    valid_convolution,
)


@pytest.fixture()
def image() -> np.ndarray:
    return np.random.default_rng(1).random((2, 3, 23, 29))


def as_t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x))


@pytest.mark.parametrize("shape", [(5, 5), (7, 3), (4, 6)])
def test_valid_convolution_matches_scipy(image, shape):
    kernel = np.random.default_rng(2).random(shape)
    out = convolve(as_t(image), as_t(kernel), "valid").numpy()
    for b in range(2):
        for c in range(3):
            expected = signal.convolve2d(image[b, c], kernel, mode="valid")
            np.testing.assert_allclose(out[b, c], expected, atol=1e-12)


@pytest.mark.parametrize(
    ("boundary", "mode"), [("replicate", "nearest"), ("reflect", "mirror"), ("zeros", "constant")]
)
def test_padded_convolution_matches_scipy(image, boundary, mode):
    kernel = np.random.default_rng(3).random((5, 7))
    out = convolve(as_t(image), as_t(kernel), boundary).numpy()
    assert out.shape == image.shape
    expected = ndimage.convolve(image[0, 1], kernel, mode=mode, cval=0.0)
    np.testing.assert_allclose(out[0, 1], expected, atol=1e-12)


def test_circular_convolution_matches_fft(image):
    kernel = np.zeros((5, 5))
    kernel[1, 3] = 0.7
    kernel[4, 0] = 0.3
    out = convolve(as_t(image), as_t(kernel), "circular").numpy()[0, 0]
    # Circular convolution with a kernel whose centre is at (2, 2): product of spectra.
    padded = np.zeros_like(image[0, 0])
    padded[:5, :5] = kernel
    padded = np.roll(padded, (-2, -2), axis=(0, 1))
    expected = np.real(np.fft.ifft2(np.fft.fft2(image[0, 0]) * np.fft.fft2(padded)))
    np.testing.assert_allclose(out, expected, atol=1e-12)


def test_delta_kernel_is_identity_and_offset_delta_shifts(image):
    delta = np.zeros((5, 5))
    delta[2, 2] = 1.0
    np.testing.assert_allclose(convolve(as_t(image), as_t(delta), "replicate").numpy(), image)
    shift = np.zeros((5, 5))
    shift[2, 4] = 1.0  # content moves two pixels to the right
    out = convolve(as_t(image), as_t(shift), "zeros").numpy()
    np.testing.assert_allclose(out[..., 2:], image[..., :-2])
    np.testing.assert_allclose(out[..., :2], 0.0)


def test_kernel_padding_even_and_odd():
    assert kernel_padding((5, 5)) == (2, 2, 2, 2)
    assert kernel_padding((4, 6)) == (1, 2, 2, 3)


def test_gradients_flow_to_the_image(image):
    x = as_t(image).requires_grad_(True)
    kernel = as_t(random_motion_kernel(5, 0).astype(np.float64))
    convolve(x, kernel, "valid").sum().backward()
    # d/dx of sum(k * x) is the number of output pixels each input reaches, times k's sum.
    assert x.grad is not None
    assert x.grad[0, 0, 11, 14].item() == pytest.approx(1.0)


def reference_convolve(image: torch.Tensor, kernel: torch.Tensor, boundary: str) -> torch.Tensor:
    """The implementation before ValidConvolution: plain conv2d, differentiated by torch."""
    b, c, h, w = image.shape
    kh, kw = kernel.shape
    x = image.reshape(b * c, 1, h, w)
    if boundary != "valid":
        top, bottom, left, right = kernel_padding((kh, kw))
        mode = "constant" if boundary == "zeros" else boundary
        x = torch.nn.functional.pad(x, (left, right, top, bottom), mode=mode)
    weight = torch.flip(kernel, dims=(0, 1)).to(dtype=image.dtype, device=image.device)
    y = torch.nn.functional.conv2d(x, weight[None, None])
    return y.reshape(b, c, y.shape[-2], y.shape[-1])


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("shape", [(3, 3), (4, 4), (2, 5), (4, 3)])
def test_valid_convolution_function_gradcheck(batch, channels, shape):
    gen = torch.Generator().manual_seed(sum(shape) + 10 * channels + batch)
    image = torch.rand(batch, channels, 7, 6, dtype=torch.float64, generator=gen)
    kernel = torch.rand(*shape, dtype=torch.float64, generator=gen)
    image.requires_grad_(True)
    kernel.requires_grad_(True)
    assert torch.autograd.gradcheck(ValidConvolution.apply, (image, kernel))
    # The image gradient alone (the fit's case: a fixed kernel).
    assert torch.autograd.gradcheck(ValidConvolution.apply, (image, kernel.detach()))


def test_valid_convolution_function_gradgradcheck():
    gen = torch.Generator().manual_seed(4)
    image = torch.rand(2, 3, 7, 6, dtype=torch.float64, generator=gen).requires_grad_(True)
    kernel = torch.rand(4, 3, dtype=torch.float64, generator=gen).requires_grad_(True)
    assert torch.autograd.gradgradcheck(ValidConvolution.apply, (image, kernel))


def test_full_correlation_is_the_adjoint():
    # <A x, y> == <x, A* y> for random x, y: A* is the adjoint of the 'valid' convolution.
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(2, 3, 20, 17, dtype=torch.float64, generator=gen)
    kernel = torch.rand(6, 5, dtype=torch.float64, generator=gen)
    y = torch.rand(2, 3, 15, 13, dtype=torch.float64, generator=gen)
    lhs = (valid_convolution(x, kernel) * y).sum()
    rhs = (x * full_correlation(y, kernel)).sum()
    assert lhs.item() == pytest.approx(rhs.item(), rel=1e-12)


@pytest.mark.parametrize("size", [19, 27])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_image_gradient_matches_plain_conv2d_at_fit_size(size, dtype):
    # A fit's shapes: a (1, 3, 255 + k - 1, 255 + k - 1) latent, a fixed motion kernel.
    gen = torch.Generator().manual_seed(size)
    side = 255 + size - 1
    latent = torch.rand(1, 3, side, side, generator=gen).to(dtype)
    kernel = torch.from_numpy(random_motion_kernel(size, size)).to(dtype)
    grad_out = torch.randn(1, 3, 255, 255, generator=gen).to(dtype)

    x_new = latent.clone().requires_grad_(True)
    torch.autograd.backward(ValidConvolution.apply(x_new, kernel), grad_out)
    x_old = latent.clone().requires_grad_(True)
    torch.autograd.backward(reference_convolve(x_old, kernel, "valid"), grad_out)
    # float32: 1e-4 relative to the gradient's scale (entries near zero carry only rounding).
    atol = 1e-6 if dtype == torch.float64 else 1e-4 * x_old.grad.abs().max().item()
    torch.testing.assert_close(x_new.grad, x_old.grad, atol=atol, rtol=0)
    # convolve, the fit's entry point, takes the same gradient.
    x = latent.clone().requires_grad_(True)
    torch.autograd.backward(convolve(x, kernel, "valid"), grad_out)
    torch.testing.assert_close(x.grad, x_old.grad, atol=atol, rtol=0)


@pytest.mark.parametrize("boundary", ["valid", "replicate", "reflect", "circular", "zeros"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(19, 19), (6, 9)])
def test_forward_is_bit_identical_to_plain_conv2d(boundary, dtype, shape):
    gen = torch.Generator().manual_seed(3)
    image = torch.rand(2, 3, 40, 37, generator=gen).to(dtype)
    kernel = torch.rand(*shape, generator=gen)  # float32: convolve casts it, as before
    kernel = kernel / kernel.sum()
    expected = reference_convolve(image, kernel, boundary)
    assert torch.equal(convolve(image, kernel, boundary), expected)
    grad_path = convolve(image.clone().requires_grad_(True), kernel, boundary)
    assert torch.equal(grad_path.detach(), expected)
    if boundary == "valid":
        function = ValidConvolution.apply(image.requires_grad_(True), kernel.to(dtype))
        assert torch.equal(function.detach(), expected)


def test_kernel_gradient_through_convolve(image):
    # A blind method's case: the kernel requires grad. Compare with the plain path.
    x = as_t(image).float().requires_grad_(True)
    kernel = torch.from_numpy(random_motion_kernel(7, 3)).requires_grad_(True)
    convolve(x, kernel, "valid").square().sum().backward()
    x_ref = as_t(image).float().requires_grad_(True)
    k_ref = kernel.detach().clone().requires_grad_(True)
    reference_convolve(x_ref, k_ref, "valid").square().sum().backward()
    torch.testing.assert_close(kernel.grad, k_ref.grad, rtol=1e-4, atol=0)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-4, atol=1e-6)


def test_bad_convolution_inputs():
    img = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="boundary"):
        convolve(img, torch.ones(3, 3) / 9, "wrap")
    with pytest.raises(ValueError, match="larger than the image"):
        convolve(img, torch.ones(5, 5) / 25, "valid")
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        convolve(torch.zeros(4, 4), torch.ones(3, 3) / 9)


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_random_motion_kernel_properties(seed):
    k = random_motion_kernel(15, seed)
    assert k.shape == (15, 15) and k.dtype == np.float32
    assert k.min() >= 0
    assert k.sum() == pytest.approx(1.0, abs=1e-6)
    # Bilinear splatting keeps the first moment: the centroid is the kernel centre.
    rows, cols = np.mgrid[0:15, 0:15]
    assert (k * rows).sum() == pytest.approx(7.0, abs=1e-4)
    assert (k * cols).sum() == pytest.approx(7.0, abs=1e-4)
    # A motion path, not a point: support wider than one pixel.
    assert (k > 0).sum() > 10
    np.testing.assert_array_equal(k, random_motion_kernel(15, seed))


def test_random_motion_kernels_differ_by_seed():
    assert not np.array_equal(random_motion_kernel(15, 0), random_motion_kernel(15, 1))


def test_random_motion_kernel_rejects_bad_sizes():
    with pytest.raises(ValueError, match="odd"):
        random_motion_kernel(14, 0)


@pytest.mark.parametrize(
    ("kernel", "message"),
    [
        (np.full((3, 3), 0.2), "must sum to 1"),
        (np.array([[0.5, 0.7, -0.2]]), "negative"),
        (np.array([[np.nan, 1.0]]), "non-finite"),
        (np.ones(3) / 3, "2-D"),
    ],
)
def test_validate_kernel_rejects(kernel, message):
    with pytest.raises(ValueError, match=message):
        validate_kernel(kernel, name="k.png")


def test_trajectory_kernel_is_the_histogram_of_rounded_shifts():
    from inrdeblur.blur.kernels import psf_histogram, trajectory_kernel
    from inrdeblur.blur.trajectory import Trajectory

    # Pure x translation at 2 m with f = 100 px: shifts 0, 1.5, 3 px -> columns 0, 2, 3.
    poses = np.zeros((3, 6))
    poses[:, 0] = [0.0, 0.03, 0.06]
    kernel = trajectory_kernel(Trajectory.from_array(poses, [0, 1, 2], 0), (100.0, 100.0), 2.0)
    expected = np.zeros((7, 7))
    expected[3, [3, 5, 6]] = 1 / 3
    np.testing.assert_allclose(kernel, expected, atol=1e-7)
    with pytest.raises(ValueError, match="exceeds the support"):
        psf_histogram(np.array([[0, 4]]), 7)


@pytest.mark.parametrize("shape", [(5, 3), (4, 4), (27, 27)])
def test_fft_convolution_and_its_adjoint_equal_the_direct_ones(shape):
    gen = torch.Generator().manual_seed(shape[0])
    x = torch.rand(2, 3, 60, 47, dtype=torch.float64, generator=gen)
    kernel = torch.rand(*shape, dtype=torch.float64, generator=gen)
    y = fft_valid_convolution(x, kernel)
    torch.testing.assert_close(y, valid_convolution(x, kernel), atol=1e-12, rtol=0)
    g = torch.rand(y.shape, dtype=torch.float64, generator=gen)
    torch.testing.assert_close(
        fft_full_correlation(g, kernel), full_correlation(g, kernel), atol=1e-12, rtol=0
    )


def test_uniform_blur_uses_fft_in_float64_only():
    kernel = random_motion_kernel(9, 3)
    op = UniformBlur(kernel, (40, 40))
    x = torch.rand(1, 1, *op.latent_shape, generator=torch.Generator().manual_seed(0))
    # float32 stays on conv2d, bit for bit (the INR fits' numerics)
    assert torch.equal(op(x), convolve(x, op.kernel, "valid"))
    x64 = x.double()
    direct = UniformBlur(kernel, (40, 40), method="direct").double()
    torch.testing.assert_close(op.double()(x64), direct(x64), atol=1e-13, rtol=0)
    y = torch.rand(1, 1, 40, 40, dtype=torch.float64)
    torch.testing.assert_close(op.double().adjoint(y), direct.adjoint(y), atol=1e-13, rtol=0)
    with pytest.raises(ValueError, match="method: must be one of"):
        UniformBlur(kernel, (40, 40), method="fast")
