"""Several seeds for the price of one: N independent copies of a Net trained as one batched model.

`stack_module_state` stacks the copies' parameters along a new leading dimension, and
`vmap(functional_call)` runs all copies at once. The losses sum the copies' per-copy mean losses,
so each copy's gradient is exactly its own; every optimizer here is elementwise, so one
optimizer over the stacked tensors equals N separate optimizers (tests/test_seeds.py checks
that the batched run equals N separate runs). Models with BatchNorm (running statistics
updated in place) are not batched: the experiments loop over seeds for them instead.
"""
from __future__ import annotations

import copy

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from .models import Net


def _plain_mlp(module) -> bool:
    """A Linear, or a Sequential of Flatten, Linear and ReLU only (the MLP body and any head)."""
    kinds = (nn.Flatten, nn.Linear, nn.ReLU)
    return isinstance(module, nn.Linear) or (isinstance(module, nn.Sequential) and all(isinstance(m, kinds) for m in module))


def call(module, p, x, shared: bool):
    """`module` (a part of a Net: its body or head) run with the stacked parameters `p` (its own
    names, the copy index in dimension 0) on x: (N, B, ...) one batch per copy, or (B, ...) shared."""
    if _plain_mlp(module):
        return _mlp(module, p, x, shared)
    f = lambda q, xi: functional_call(module, q, (xi,))  # noqa: E731
    return vmap(f, in_dims=(0, None if shared else 0))(p, x)


def _mlp(module, p, x, shared: bool):
    """An MLP part (Flatten, Linear, ReLU) written out as batched matmuls: the same products
    as vmap's, without its per-call dispatch (a 3-layer step of 5 copies on a 2-core CPU:
    about a third less time; tests/test_seeds.py: batched equals separate runs)."""
    layers = [module] if isinstance(module, nn.Linear) else list(module)
    for i, m in enumerate(layers):
        if isinstance(m, nn.Flatten):
            x = x.flatten(1) if shared else x.flatten(2)
        elif isinstance(m, nn.Linear):
            w, b = (p["weight"], p["bias"]) if m is module else (p[f"{i}.weight"], p[f"{i}.bias"])
            if shared:  # one batch for every copy: (B, in) against (N, out, in)
                x, shared = torch.matmul(x, w.transpose(1, 2)) + b[:, None, :], False
            else:
                x = torch.baddbmm(b[:, None, :], x, w.transpose(1, 2))
        else:
            x = torch.relu(x)
    return x


class BatchedNet(nn.Module):
    batched = True  # its tensors carry the copy index in dimension 0 (n_copies of them)

    def __init__(self, nets: list[Net]):
        super().__init__()
        if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in nets[0].modules()):
            raise ValueError("BatchNorm copies cannot be batched; train them one by one.")
        self.n_copies = len(nets)
        params, _ = stack_module_state(nets)
        self.template = [copy.deepcopy(nets[0])]  # in a list: not a submodule, its own weights unused
        self.names = list(params)
        for name in self.names:  # registered (dots are not allowed in names) so .to() and optimizers see them
            self.register_parameter(name.replace(".", "__"), nn.Parameter(params[name].detach().clone()))

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        for name in self.names:  # the copies' own names, with the copy index as dimension 0
            yield prefix + name, getattr(self, name.replace(".", "__"))

    def _part(self, part):
        return {n[len(part) + 1:]: p for n, p in self.named_parameters() if n.startswith(part + ".")}

    def _call(self, part, x, shared: bool):
        return call(getattr(self.template[0], part), self._part(part), x, shared)

    def body(self, x, shared=False):
        """x: (N, B, ...) one batch per copy, or (B, ...) with shared=True -> (N, B, latent)."""
        return self._call("body", x, shared)

    def head(self, h):
        return self._call("head", h, False)

    def head_frozen(self, h):
        """The head with its weights detached (for the latent-only loss): (N, B, latent) -> (N, B, C)."""
        w, b = self._part("head")["weight"].detach(), self._part("head")["bias"].detach()
        return torch.baddbmm(b[:, None, :], h, w.transpose(1, 2))

    def forward(self, x, return_latent=False, shared=True):
        h = self.body(x, shared)
        z = self.head(h)
        return (z, h) if return_latent else z

    @torch.no_grad()
    def copy(self, i: int) -> Net:
        """Copy i as a plain Net (for evaluation, probes and heatmaps)."""
        net = copy.deepcopy(self.template[0])
        for name, p in net.named_parameters():
            p.copy_(getattr(self, name.replace(".", "__"))[i])
        return net.to(next(self.parameters()).device)



class Stacked:
    """Plain Nets run as one batched model, each keeping its own parameters (leaves) and so its own
    optimizer: their parameters are stacked when it is made, and autograd carries each copy's
    gradient back to its own net, so make one per step. For runs that stop at different steps
    (clviz/experiments/cohort.py): a run that stopped is simply left out of the next stack,
    untouched by the others' steps, its optimizer (step counter included) its own."""
    batched = True

    def __init__(self, nets: list[Net], params: list[list] | None = None):
        """`params`: each net's parameters in its named_parameters() order, where the caller keeps
        them (a run makes a stack per step; walking 75 nets' modules each time cost 7% of savings)."""
        self.template, self.n_copies = nets[0], len(nets)
        names = [n for n, _ in nets[0].named_parameters()]
        params = params or [list(n.parameters()) for n in nets]
        self.p = {name: torch.stack([ps[i] for ps in params]) for i, name in enumerate(names)}

    def _part(self, part):
        return {n[len(part) + 1:]: p for n, p in self.p.items() if n.startswith(part + ".")}

    def body(self, x, shared=False):
        return call(self.template.body, self._part("body"), x, shared)

    def head(self, h):
        return call(self.template.head, self._part("head"), h, False)

    def head_frozen(self, h):
        p = self._part("head")
        return torch.baddbmm(p["bias"].detach()[:, None, :], h, p["weight"].detach().transpose(1, 2))

    def __call__(self, x, return_latent=False, shared=False):
        h = self.body(x, shared)
        z = self.head(h)
        return (z, h) if return_latent else z
