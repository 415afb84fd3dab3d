"""DilatedConv2d: nn.Conv2d's output and gradients, with the weight gradient taken on the sub-grids;
ChannelsLastGELU: nn.GELU's output and gradient in the maps' own layout."""
import pytest
import torch
from torch import nn

from speechgen.models.conv import ChannelsLastGELU, DilatedConv2d, space_to_batch


def reference(layer: DilatedConv2d) -> nn.Conv2d:
    k, d = layer.kernel_size[0], layer.dilation[0]
    ref = nn.Conv2d(layer.in_channels, layer.out_channels, k, padding=d * (k // 2), dilation=d,
                    bias=layer.bias is not None).double()
    ref.load_state_dict(layer.state_dict())
    return ref


def grads(layer: nn.Module, x: torch.Tensor, g: torch.Tensor):
    x = x.clone().requires_grad_()
    y = layer(x)
    y.backward(g)
    out = [y.detach(), x.grad] + [p.grad.clone() for p in layer.parameters()]
    layer.zero_grad()
    return out


@pytest.mark.parametrize("d,k,bias,size", [(2, 3, True, (23, 17)), (3, 3, True, (10, 9)), (4, 3, False, (257, 8)),
                                           (2, 5, True, (12, 13)), (1, 3, True, (7, 6))])
@pytest.mark.parametrize("channels_last", [False, True])
def test_output_and_gradients_are_those_of_the_dilated_conv2d(d, k, bias, size, channels_last):
    torch.manual_seed(0)
    layer = DilatedConv2d(5, 4, k, dilation=d, bias=bias).double()
    x = torch.randn(3, 5, *size, dtype=torch.float64)
    g = torch.randn(3, 4, *size, dtype=torch.float64)
    if channels_last:
        layer.to(memory_format=torch.channels_last)
        x, g = (t.contiguous(memory_format=torch.channels_last) for t in (x, g))
    ref = reference(layer)
    for ours, theirs in zip(grads(layer, x, g), grads(ref, x, g)):
        assert ours.shape == theirs.shape
        torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)


def test_same_parameters_and_state_dict_as_conv2d_and_plain_forward_without_grad():
    layer = DilatedConv2d(2, 3, 3, dilation=2)
    assert list(layer.state_dict()) == ["weight", "bias"] and layer.padding == (2, 2)
    x = torch.randn(1, 2, 9, 7)
    with torch.no_grad():
        assert torch.equal(layer(x), nn.functional.conv2d(x, layer.weight, layer.bias, padding=2, dilation=2))
    with pytest.raises(ValueError, match="must be odd"):
        DilatedConv2d(2, 3, 2, dilation=2)


def test_space_to_batch_stacks_the_zero_padded_sub_grids():
    x = torch.arange(2 * 3 * 5 * 6, dtype=torch.float32).view(2, 3, 5, 6) + 1
    d = 2
    out = space_to_batch(x, d)
    assert out.shape == (2 * d * d, 3, 3, 3) and out.is_contiguous(memory_format=torch.channels_last)
    for b in range(2):
        for r in range(d):
            for s in range(d):
                grid = out[b * d * d + r * d + s]
                sub = x[b, :, r::d, s::d]
                assert torch.equal(grid[:, :sub.shape[1], :sub.shape[2]], sub)
                assert grid[:, sub.shape[1]:].abs().sum() == 0 and grid[:, :, sub.shape[2]:].abs().sum() == 0


def test_autocast_takes_the_library_path():
    layer = DilatedConv2d(2, 3, 3, dilation=2)
    x = torch.randn(1, 2, 9, 7)
    assert layer(x).grad_fn.name() == "_DilatedConv2dFunctionBackward"  # the sub-grid path otherwise
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
    assert y.dtype == torch.bfloat16 and y.grad_fn.name() != "_DilatedConv2dFunctionBackward"
    y.float().sum().backward()
    assert layer.weight.grad is not None


def test_off_the_cpu_the_library_path_is_taken():
    layer = DilatedConv2d(2, 3, 3, dilation=2).to("meta")
    y = layer(torch.empty(1, 2, 9, 7, device="meta"))
    assert y.shape == (1, 3, 9, 7) and y.grad_fn.name() != "_DilatedConv2dFunctionBackward"


@pytest.mark.parametrize("shape,channels_last", [((3, 5, 7, 4), True), ((3, 5, 7, 4), False), ((2, 6, 9), False)])
def test_channels_last_gelu_gives_nn_gelu_output_and_gradient_in_the_input_layout(shape, channels_last):
    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=torch.float64) * 3
    g = torch.randn(*shape, dtype=torch.float64)
    if channels_last:
        x, g = (t.contiguous(memory_format=torch.channels_last) for t in (x, g))
    ours, theirs = grads(ChannelsLastGELU(), x, g), grads(nn.GELU(), x, g)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
        assert a.stride() == b.stride()
    assert ours[0].is_contiguous(memory_format=torch.channels_last) == channels_last
