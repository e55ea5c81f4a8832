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
