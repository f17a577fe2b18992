"""The kernel-space networks (Tran et al. 2021) against the reference's structure: the
paper's parameter count to the unit, the reference parameter names (so the authors'
weights load), any image size, and A's global residual."""

from __future__ import annotations

import pytest
import torch

from inrdeblur.networks.kernel_space import (
    KernelWizard,
    code_grid,
    load_weights,
    pad_to_multiple,
    parameter_counts,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_paper_size_has_the_computed_parameter_count():
    """49,205,187 (methods spec C.1, counted from the architecture of woVAE.yml): the
    shared features 0.81 M, E 25.5 M, A's U-Net 21.0 M, the reconstruction 1.81 M."""
    assert parameter_counts(KernelWizard("paper")) == {
        "feature_extractor": 814_208,
        "kernel_extractor": 25_542_656,
        "adapter": 21_037_120,
        "recon_trunk": 1_811_203,
        "total": 49_205_187,
    }


def reference_names(front: int = 10, back: int = 20, extractor: int = 4) -> set[str]:
    """The parameter names of the reference ``KernelWizard`` (kernel_wizard.py with
    norm 'none'), written out from its module structure: Sequential indices, the
    residual blocks' conv1/conv2, the ResnetBlock's conv_block indices 1 and 5, and the
    U-Net's nested ``submodule`` with down conv index 0 (outermost) or 1, up conv 1."""
    names = set()

    def conv(prefix: str, bias: bool = True) -> None:
        names.add(f"{prefix}.weight")
        if bias:
            names.add(f"{prefix}.bias")

    for i in (0, 2, 4):
        conv(f"feature_extractor.{i}")
    for i in range(6, 6 + front):
        conv(f"feature_extractor.{i}.conv1")
        conv(f"feature_extractor.{i}.conv2")
    for i in (1, 4, 7, 10, 13, 16):
        conv(f"kernel_extractor.model.{i}", bias=False)
    for i in range(19, 19 + extractor):
        conv(f"kernel_extractor.model.{i}.conv_block.1", bias=False)
        conv(f"kernel_extractor.model.{i}.conv_block.5", bias=False)
    for depth in range(5):
        prefix = "adapter.model" + ".submodule" * depth
        conv(f"{prefix}.down.{0 if depth == 0 else 1}", bias=False)
        conv(f"{prefix}.up.1", bias=depth == 0)
    for i in range(back):
        conv(f"recon_trunk.{i}.conv1")
        conv(f"recon_trunk.{i}.conv2")
    for i in (back, back + 3, back + 6, back + 8):
        conv(f"recon_trunk.{i}")
    return names


def test_the_parameter_names_are_the_references():
    model = KernelWizard("paper")
    state = model.state_dict()
    assert set(state) == reference_names()
    # the innermost level takes the 512-channel code beside its 512 down features
    inner = "adapter.model" + ".submodule" * 4
    assert state[f"{inner}.up.1.weight"].shape == (1024, 512, 4, 4)
    assert state["kernel_extractor.model.1.weight"].shape == (64, 128, 7, 7)
    small = KernelWizard("small").state_dict()
    assert set(small) == reference_names(front=2, back=4, extractor=1)


def test_weights_load_under_their_names_and_a_misfit_is_named(tmp_path):
    torch.manual_seed(0)
    saved = KernelWizard("small")
    path = tmp_path / "kernel_space.pth"
    # as a DataParallel model saves them
    torch.save({f"module.{k}": v for k, v in saved.state_dict().items()}, path)
    loaded = KernelWizard("small")
    load_weights(loaded, path)
    for name, value in saved.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], value, rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"kernel_space\.pth: does not fit .*wrong shape: "):
        load_weights(KernelWizard("paper"), path)
    torch.save({"feature_extractor.0.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match=r"bad\.pth: .*missing: .* and \d+ more"):
        load_weights(KernelWizard("small"), tmp_path / "bad.pth")


@pytest.mark.parametrize(
    "shape, grid", [((97, 131), (2, 2)), ((300, 260), (3, 3)), ((256, 384), (2, 3))]
)
def test_any_image_size_round_trips(shape, grid):
    assert code_grid(*shape) == grid
    image = torch.rand(2, 3, *shape)
    padded = pad_to_multiple(image)
    assert padded.shape[-2:] == (128 * grid[0], 128 * grid[1])
    torch.testing.assert_close(padded[..., : shape[0], : shape[1]], image, rtol=0, atol=0)
    model = KernelWizard("small").eval()
    with torch.no_grad():
        code = model.extract(image, image.flip(-1))
        assert code.shape == (2, 64, *grid)
        out = model.blur(image, code)
    assert out.shape == image.shape and torch.isfinite(out).all()
    with pytest.raises(ValueError, match=r"code: expected \(2, 64, 2, 2\) for a 97x131 image"):
        model.blur(torch.rand(2, 3, 97, 131), torch.zeros(2, 64, 1, 2))


def test_the_blur_operator_is_a_residual_on_the_sharp_image():
    """A(x, k) = x + R(x, k): with the last convolution zeroed, A returns x for any code,
    on the original pixels after the crop."""
    model = KernelWizard("small")
    last = model.recon_trunk[-1]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.zeros_(last.bias)
    image = torch.rand(1, 3, 97, 131)
    with torch.no_grad():
        out = model.blur(image, torch.randn(1, 64, 2, 2))
    torch.testing.assert_close(out, image, rtol=0, atol=0)
