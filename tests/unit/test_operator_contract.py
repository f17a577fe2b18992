"""The blur-operator contract, checked for every operator: linearity where claimed, the
adjoint identity, gradients to the latent and to per-call parameters, tiles by
``crop``, the model registry and ``from_recipe``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from blur_operators import OPERATOR_NAMES, GlobalBlur, make_operator

from inrdeblur.blur.models import MODELS, OBSERVED, build_operator, operator_class, scene_inputs
from inrdeblur.blur.operator import BlurOperator, EmbeddedTile
from inrdeblur.blur.trajectory import hand_shake
from inrdeblur.blur.uniform import UniformBlur
from inrdeblur.config import params


@pytest.fixture(scope="module", params=OPERATOR_NAMES)
def operator(request) -> BlurOperator:
    return make_operator(request.param).double()


def random_latent(op: BlurOperator, seed: int, batch: int = 2, channels: int = 3):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((batch, channels, *op.latent_shape), generator=g, dtype=torch.float64)


def test_forward_maps_the_latent_to_the_image(operator):
    y = operator(random_latent(operator, 0))
    assert y.shape == (2, 3, *operator.image_shape)
    top, bottom, left, right = operator.margin
    h, w = operator.image_shape
    assert operator.latent_shape == (h + top + bottom, w + left + right)


def test_linearity_where_claimed(operator):
    assert operator.is_linear
    x, z = random_latent(operator, 1), random_latent(operator, 2)
    torch.testing.assert_close(
        operator(2.5 * x - 0.7 * z), 2.5 * operator(x) - 0.7 * operator(z), rtol=0, atol=1e-12
    )


def test_adjoint_identity(operator):
    x = random_latent(operator, 3)
    y = torch.rand((2, 3, *operator.image_shape), generator=torch.Generator().manual_seed(4))
    y = y.double()
    lhs = torch.sum(operator(x) * y)
    rhs = torch.sum(x * operator.adjoint(y))
    assert abs(lhs - rhs) <= 1e-12 * abs(lhs)


def test_the_adjoint_is_the_transpose_of_the_forward_jacobian(operator):
    """Autograd's vector-Jacobian product of the forward map is the adjoint."""
    x = random_latent(operator, 5, batch=1, channels=1).requires_grad_(True)
    y = torch.rand((1, 1, *operator.image_shape), dtype=torch.float64)
    (grad,) = torch.autograd.grad(operator(x), x, grad_outputs=y)
    torch.testing.assert_close(grad, operator.adjoint(y), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", OPERATOR_NAMES)
def test_gradcheck_in_the_latent(name):
    op = make_operator(name).double()
    x = random_latent(op, 6, batch=1, channels=1).requires_grad_(True)
    weights = torch.rand(op.image_shape, dtype=torch.float64)
    # fast mode: finite differences along random directions, not all 1369 unit vectors
    assert torch.autograd.gradcheck(lambda v: (op(v) * weights).sum(), (x,), fast_mode=True)


def test_a_per_call_kernel_replaces_the_stored_one():
    op = make_operator("uniform").double()
    x = random_latent(op, 7)
    other = torch.rand(op.kernel.shape, dtype=torch.float64, generator=torch.Generator())
    other /= other.sum()
    expected = UniformBlur(other, op.image_shape)(x)
    torch.testing.assert_close(op(x, kernel=other), expected, rtol=0, atol=1e-12)
    y = torch.rand((2, 3, *op.image_shape), dtype=torch.float64)
    torch.testing.assert_close(
        op.adjoint(y, kernel=other),
        UniformBlur(other, op.image_shape).adjoint(y),
        rtol=0,
        atol=1e-12,
    )
    torch.testing.assert_close(op(x), UniformBlur(op.kernel, op.image_shape)(x))


@pytest.mark.parametrize("dtype,method", [(torch.float64, "auto"), (torch.float32, "direct")])
def test_gradients_reach_a_per_call_kernel(dtype, method):
    """d/dk of <w, k * x> is the correlation of x with w: checked by finite differences
    (float64) and against that closed form (both paths: FFT in float64, conv2d in float32)."""
    op = UniformBlur(np.full((3, 4), 1 / 12), (9, 11), method=method).to(dtype)
    x = torch.rand((2, 1, *op.latent_shape), dtype=dtype)
    w = torch.rand((2, 1, *op.image_shape), dtype=dtype)
    kernel = torch.rand((3, 4), dtype=dtype, requires_grad=True)
    if dtype == torch.float64:
        assert torch.autograd.gradcheck(lambda k: (op(x, kernel=k) * w).sum(), (kernel,))
    (grad,) = torch.autograd.grad((op(x, kernel=kernel) * w).sum(), kernel)
    kh, kw = kernel.shape
    h, ww = op.image_shape
    # y[i, j] = sum_m x[i + kh - 1 - m, j + kw - 1 - n] k[m, n]  ('valid' true convolution)
    expected = torch.stack(
        [
            torch.stack(
                [
                    (x[..., kh - 1 - m : kh - 1 - m + h, kw - 1 - n : kw - 1 - n + ww] * w).sum()
                    for n in range(kw)
                ]
            )
            for m in range(kh)
        ]
    )
    tol = 1e-10 if dtype == torch.float64 else 1e-4
    torch.testing.assert_close(grad, expected, rtol=tol, atol=tol)


def test_a_per_call_kernel_of_another_size_is_refused():
    op = make_operator("uniform")
    with pytest.raises(ValueError, match=r"kernel must be a \(5, 8\) tensor"):
        op(torch.zeros((1, 1, *op.latent_shape)), kernel=torch.ones(3, 3) / 9)


@pytest.mark.parametrize("tile", [(0, 4, 0, 6), (3, 20, 5, 31), (9, 26, 17, 34)])
def test_crop_is_the_full_operator_cropped(operator, tile):
    row0, row1, col0, col1 = tile
    top, bottom, left, right = operator.receptive_field
    x = random_latent(operator, 8)
    part = operator.crop(*tile)
    assert part.image_shape == (row1 - row0, col1 - col0)
    window = x[..., row0 : row1 + top + bottom, col0 : col1 + left + right]
    expected = operator(x)[..., row0:row1, col0:col1]
    torch.testing.assert_close(part(window), expected, rtol=0, atol=1e-12)
    y = torch.rand((2, 3, *part.image_shape), dtype=torch.float64)
    assert abs(torch.sum(part(window) * y) - torch.sum(window * part.adjoint(y))) < 1e-10


def test_a_whole_image_crop_is_the_operator_itself(operator):
    h, w = operator.image_shape
    assert operator.crop(0, h, 0, w) is operator


def test_models_crop_large_tiles_natively_and_embed_small_ones():
    for name in ("uniform", "icb", "pwb"):
        op = make_operator(name)
        assert isinstance(op.crop(0, 20, 0, 20), type(op))
    assert isinstance(make_operator("icb").crop(0, 4, 0, 4), EmbeddedTile)
    assert isinstance(make_operator("shaded").crop(0, 20, 0, 20), EmbeddedTile)


def test_an_operator_without_a_local_receptive_field_cannot_be_tiled():
    op = make_operator("global")
    assert isinstance(op, GlobalBlur) and op.receptive_field is None
    with pytest.raises(ValueError, match="GlobalBlur.crop: the operator has no local"):
        op.crop(0, 10, 0, 10)


def test_a_tile_outside_the_image_is_refused(operator):
    with pytest.raises(ValueError, match=r"crop: tile rows 0:27, columns 0:5 is not inside"):
        operator.crop(0, 27, 0, 5)


def test_every_model_of_the_schema_is_registered():
    schema_models = params.schema()["$defs"]["blur"]["properties"]["model"]["enum"]
    assert sorted(schema_models) == sorted([*MODELS, OBSERVED])
    for model in MODELS:
        cls = operator_class(model)
        assert issubclass(cls, BlurOperator) and cls.model == model and cls.scene_inputs
        assert scene_inputs(model) == cls.scene_inputs


def test_the_observed_model_has_no_operator():
    assert scene_inputs(OBSERVED) == ()
    with pytest.raises(ValueError, match="'observed' has no blur operator.*only a blind"):
        operator_class(OBSERVED)


def test_an_unknown_model_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown blur model 'gauss' .known: uniform, icb, pwb"):
        operator_class("gauss")


def test_build_operator_names_the_missing_scene_inputs():
    with pytest.raises(ValueError, match="pwb blur: needs depth, intrinsics of the scene"):
        build_operator({"model": "pwb"}, (8, 8), trajectory=hand_shake(0, n_poses=3))
    with pytest.raises(ValueError, match="uniform blur: needs kernel of the scene"):
        build_operator({"model": "uniform"}, (8, 8))


def test_build_operator_checks_the_depth_against_the_image():
    k = np.array([[50.0, 0.0, 4.0], [0.0, 50.0, 4.0], [0.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match=r"icb blur: depth: shape \(9, 8\) does not match"):
        build_operator(
            {"model": "icb", "blur_diff": 1.0, "matte_sigma": 4.0, "max_layers": 100},
            (8, 8),
            depth=np.ones((9, 8)),
            trajectory=hand_shake(0, n_poses=3),
            intrinsics=k,
        )
