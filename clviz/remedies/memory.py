"""A class-balanced memory of k training samples per class, drawn at random from each task."""
from __future__ import annotations

import torch


class Memory:
    def __init__(self, per_class: int, gen: torch.Generator):
        self.per_class, self.gen = per_class, gen
        self.x = self.y = None

    def add(self, x, y):
        """Keep `per_class` random samples of each class in (x, y) (all of a class with fewer)."""
        keep = []
        for c in torch.unique(y).tolist():
            idx = (y == c).nonzero().flatten()
            keep.append(idx[torch.randperm(len(idx), generator=self.gen)[:self.per_class].to(idx.device)])
        keep = torch.cat(keep)
        xs, ys = x[keep], y[keep]
        self.x = xs if self.x is None else torch.cat([self.x, xs])
        self.y = ys if self.y is None else torch.cat([self.y, ys])

    def __len__(self):
        return 0 if self.y is None else len(self.y)

    def sample(self, n: int):
        """n samples drawn uniformly (with replacement) from the memory."""
        idx = torch.randint(0, len(self), (n,), generator=self.gen).to(self.y.device)
        return self.x[idx], self.y[idx]
