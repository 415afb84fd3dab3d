"""Layers for channels-last maps on the CPU: a dilated 2-d convolution whose weight gradient is computed
on the space-to-batch split of its maps, and an exact GELU that runs on the maps' NHWC view.

On the CPU, oneDNN's weight gradient of a dilated 3x3 convolution costs about 3.5x the undilated one's
(16 channels of 257 x 64 maps, one thread: 55-60 ms against 17 ms), while its forward pass and input
gradient cost the same as the undilated ones. A convolution of dilation ``d`` is an undilated one on
each of the ``d * d`` sub-grids ``x[..., r::d, s::d]`` (the taps of an output all lie on its own
sub-grid), so :class:`DilatedConv2d` keeps the library's forward pass and input gradient and computes
the weight gradient as the undilated weight gradient over the sub-grids stacked along the batch: the
same sums in another order (float round-off apart, the same gradient).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.nn import functional as fn


def space_to_batch(x: Tensor, d: int) -> Tensor:
    """(B, C, H, W) -> (B * d * d, C, ceil(H / d), ceil(W / d)), channels-last: sub-grid ``r * d + s`` of
    each map is ``x[..., r::d, s::d]``, zero-padded at its end to the common size."""
    b, c, h, w = x.shape
    nh, nw = -(-h // d), -(-w // d)
    out = x.new_empty(b, d, d, nh, nw, c)
    nhwc = x.permute(0, 2, 3, 1)
    for r in range(d):
        for s in range(d):
            grid = nhwc[:, r::d, s::d]
            out[:, r, s, :grid.shape[1], :grid.shape[2]] = grid
            out[:, r, s, grid.shape[1]:] = 0
            out[:, r, s, :, grid.shape[2]:] = 0
    return out.view(b * d * d, nh, nw, c).permute(0, 3, 1, 2)


class _DilatedConv2dFunction(torch.autograd.Function):
    """conv2d(x, weight, bias) with stride 1 and 'same' zero padding ``d * (k - 1) / 2``, dilation d."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor, d: int) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.d, ctx.has_bias = d, bias is not None
        return fn.conv2d(x, weight, bias, padding=d * (weight.shape[-1] // 2), dilation=d)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        x, weight = ctx.saved_tensors
        d, half = ctx.d, weight.shape[-1] // 2
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.ops.aten.convolution_backward(
                grad, x, weight, None, [1, 1], [d * half] * 2, [d, d], False, [0, 0], 1, [True, False, False])[0]
        if ctx.needs_input_grad[1]:
            grad_w = torch.ops.aten.convolution_backward(
                space_to_batch(grad, d), space_to_batch(x, d), weight, None, [1, 1], [half] * 2, [1, 1],
                False, [0, 0], 1, [False, True, False])[1]
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 2, 3))
        return grad_x, grad_w, grad_b, None


class DilatedConv2d(nn.Conv2d):
    """``nn.Conv2d(c_in, c_out, k, padding=d * (k - 1) // 2, dilation=d)`` (odd square ``k``, stride 1)
    whose weight gradient is computed on the space-to-batch split on the CPU (see the module docstring).

    Same parameters and state dict as the ``nn.Conv2d`` it replaces.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1, bias: bool = True):
        if kernel_size % 2 != 1:
            raise ValueError(f"DilatedConv2d: kernel_size {kernel_size} must be odd")
        super().__init__(in_channels, out_channels, kernel_size, padding=dilation * (kernel_size // 2),
                         dilation=dilation, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        d = self.dilation[0]
        # the library's own path without a weight gradient, under autocast (which casts its inputs) and
        # off the CPU (the slow dilated weight gradient measured is oneDNN's)
        if d == 1 or x.device.type != "cpu" or not (torch.is_grad_enabled() and self.weight.requires_grad) \
                or torch.is_autocast_enabled(x.device.type):
            return super().forward(x)
        return _DilatedConv2dFunction.apply(x, self.weight, self.bias, d)


class ChannelsLastGELU(nn.GELU):
    """``nn.GELU()`` (exact) that computes channels-last 4-d maps on their contiguous NHWC view.

    torch hands a contiguous float tensor's GELU and its backward to oneDNN and a channels-last one to
    ATen's own kernel, which took 1.5-1.7x as long on an AVX2 CPU (16 maps of 16 x 257 x 64, one thread:
    13.3 against 8.9 ms forward, 20.3 against 11.8 ms backward). The two differ by float round-off
    (at most one or two units in the last place). Any other input goes to ``nn.GELU`` unchanged.
    """

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
            return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return super().forward(x)
