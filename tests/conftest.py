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


def equal_to_second_order(model, fast, x, y, scale):
    """``fast`` computes what ``model`` does, in float64 to 1e-10: the logits, every parameter
    gradient, and the gradient of the matching loss (against the update at ``x * scale``) to
    the input, second order."""
    from snnleak.gradients import dummy_gradients, gradient_distance

    true = [g.detach() for g in dummy_gradients(model, x.detach() * scale, y)]
    outs = []
    for m in (model, fast):
        dummy = x.detach().clone().requires_grad_()
        logits = m(dummy)
        grads = dummy_gradients(m, dummy, y)
        (dx,) = torch.autograd.grad(gradient_distance(grads, true), dummy)  # second order
        outs.append([logits.detach(), *[g.detach() for g in grads], dx])
    assert outs[0][0].abs().sum() > 0 and outs[0][-1].abs().sum() > 0
    for a, b in zip(*outs, strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-10)
