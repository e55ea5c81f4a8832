import pytest
import timm
import torch

from pseg_d2.modeling.backbone import TimmConvNet, TimmSwin


@pytest.mark.parametrize("size", [(64, 64), (70, 98)])
def test_timm_swin_outputs_nchw_maps_at_strides_4_to_32(size):
    swin = TimmSwin("swin_tiny_patch4_window7_224", ["res2", "res3", "res4", "res5"])
    x = torch.randn(1, 3, *size)
    x = torch.nn.functional.pad(x, (0, (-size[1]) % 32, 0, (-size[0]) % 32))
    out = swin(x)
    for name, shape in swin.output_shape().items():
        assert out[name].shape == (1, shape.channels, x.shape[2] // shape.stride, x.shape[3] // shape.stride)
    assert [swin.output_shape()[n].stride for n in ("res2", "res3", "res4", "res5")] == [4, 8, 16, 32]


def test_timm_swin_loads_an_official_checkpoint(tmp_path):
    reference = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False, num_classes=0)
    torch.save({"model": reference.state_dict()}, tmp_path / "swin.pth")
    swin = TimmSwin("swin_tiny_patch4_window7_224", ["res5"], weights=str(tmp_path / "swin.pth"))
    assert torch.equal(swin.model.patch_embed.proj.weight, reference.patch_embed.proj.weight)
    with pytest.raises(FileNotFoundError, match="MODEL.SWIN.WEIGHTS"):
        TimmSwin("swin_tiny_patch4_window7_224", ["res5"], weights=str(tmp_path / "nope.pth"))


def test_timm_convnet_names_maps_by_stride():
    net = TimmConvNet("regnetx_002", [1, 2, 3, 4])
    out = net(torch.randn(2, 3, 64, 96))
    assert list(out) == ["res2", "res3", "res4", "res5"]
    for name, shape in net.output_shape().items():
        assert out[name].shape == (2, shape.channels, 64 // shape.stride, 96 // shape.stride)
    assert net.size_divisibility == 32


def _random_full_model(name):
    """timm's full classifier model, random weights and random BatchNorm statistics."""
    model = timm.create_model(name).eval()
    with torch.no_grad():
        for buffer in model.buffers():
            if buffer.is_floating_point():
                buffer.uniform_(0.5, 1.5)
    return model


@pytest.mark.parametrize("name, out_indices", [
    ("resnet18", [1, 2, 3, 4]), ("resnet50", [1, 2, 3, 4]), ("efficientnet_b0", [1, 2, 3, 4]),
    ("convnext_atto", [0, 1, 2, 3]), ("regnetx_002", [1, 2, 3, 4]),
])
def test_timm_convnet_loads_the_full_models_checkpoint_bit_exact(tmp_path, name, out_indices):
    full = _random_full_model(name)
    torch.save({"state_dict": {f"module.{k}": v for k, v in full.state_dict().items()}}, tmp_path / "w.pth")
    net = TimmConvNet(name, out_indices, weights=str(tmp_path / "w.pth"))
    reference = full.state_dict()
    for key, value in net.model.state_dict().items():
        # The feature wrapper keeps the full model's names, or flattens the first level (stem.0 -> stem_0).
        source = key if key in reference else key.replace("_", ".", 1)
        assert torch.equal(value, reference[source]), key


def test_timm_convnet_loads_a_checkpoint_with_another_classifier(tmp_path):
    full = _random_full_model("resnet18")
    full.reset_classifier(7)  # fine-tuned on 7 classes
    torch.save(full.state_dict(), tmp_path / "ft.pth")
    net = TimmConvNet("resnet18", [4], weights=str(tmp_path / "ft.pth"))
    assert torch.equal(net.model.layer4[1].bn2.running_var, full.layer4[1].bn2.running_var)


def test_timm_convnet_refuses_another_architectures_checkpoint(tmp_path):
    torch.save(timm.create_model("resnet18").state_dict(), tmp_path / "r18.pth")
    with pytest.raises(RuntimeError, match=r"WEIGHTS=.* missing \['layer1.0.conv3.*another shape \['layer1.0.conv1"):
        TimmConvNet("resnet50", [1, 2, 3, 4], weights=str(tmp_path / "r18.pth"))
