import pytest
import torch


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)


def first_and_second_order(fn, x, cotangents, u):
    """Outputs of ``fn(x)``, d<c, out>/dx and d<u, d<c, out>/dx>/dx (the DLG-style second order).

    ``fn`` returns a tuple of tensors; ``cotangents`` weights each one (None skips it).
    """
    outs = fn(x)
    loss = sum((o * c).sum() for o, c in zip(outs, cotangents, strict=True) if c is not None)
    (gx,) = torch.autograd.grad(loss, x, create_graph=True)
    (g2,) = torch.autograd.grad((gx * u).sum(), x)
    return [o.detach() for o in outs], gx.detach(), g2
