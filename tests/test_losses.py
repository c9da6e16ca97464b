"""Which parameters get gradient from which logits, for each loss."""
import torch

from clviz import models
from clviz.losses import make_loss


def grads(loss_name, y, **knobs):
    torch.manual_seed(0)
    m = models.mlp(6, (8, 5), num_classes=4)
    x = torch.randn(len(y), 6)
    if loss_name == "correct_only":
        knobs = {"l2": 0.0, **knobs}
    loss, _, _ = make_loss(loss_name, **knobs)(m, x, torch.tensor(y))
    loss.backward()
    return m, {n: p.grad.clone() for n, p in m.named_parameters()}


def test_ce_reaches_every_head_row():
    _, g = grads("ce", [0, 0, 0])
    assert (g["head.weight"].abs().sum(1) > 0).all()


def test_correct_only_touches_only_the_true_rows():
    _, g = grads("correct_only", [1, 1, 2])
    rows = g["head.weight"].abs().sum(1)
    assert rows[1] > 0 and rows[2] > 0 and rows[0] == 0 and rows[3] == 0
    assert g["head.bias"][0] == 0 and g["head.bias"][3] == 0
    assert g["body.1.weight"].abs().sum() > 0  # the hidden layers do learn


def test_correct_only_is_minus_log_sigmoid_of_true_logit():
    torch.manual_seed(0)
    m = models.mlp(6, (8,), num_classes=3)
    x, y = torch.randn(5, 6), torch.tensor([0, 1, 2, 1, 0])
    loss, z, _ = make_loss("correct_only", l2=0.0)(m, x, y)
    ref = -torch.log(torch.sigmoid(z[torch.arange(5), y])).mean()
    assert torch.allclose(loss, ref, atol=1e-6)


def test_correct_only_l2_decays_all_weights():
    _, g = grads("correct_only", [1, 1], l2=0.1)
    assert g["head.weight"][0].abs().sum() > 0  # L2 reaches the other rows, the loss itself does not


def test_latent_only_incorrect_logits_reach_hidden_not_head():
    # all samples of class 0: in the head only row 0 may move; the hidden layers get the
    # gradient of the incorrect logits too, so it must differ from the true-logit-only gradient
    m, g = grads("latent_only", [0, 0, 0])
    rows = g["head.weight"].abs().sum(1)
    assert rows[0] > 0 and (rows[1:] == 0).all() and (g["head.bias"][1:] == 0).all()
    _, g_true = grads("correct_only", [0, 0, 0])
    assert not torch.allclose(g["body.1.weight"], g_true["body.1.weight"], atol=1e-4)
    _, g_ce = grads("ce", [0, 0, 0])
    # the hidden layers see exactly what plain cross-entropy would give them
    assert torch.allclose(g["body.1.weight"], g_ce["body.1.weight"], atol=1e-6)
    assert torch.allclose(g["head.weight"][0], g_ce["head.weight"][0], atol=1e-6)


def test_l2_term_is_half_lambda_times_squared_weights():
    torch.manual_seed(0)
    m = models.mlp(6, (8,), num_classes=3)
    x, y = torch.randn(5, 6), torch.tensor([0, 1, 2, 1, 0])
    plain, _, _ = make_loss("correct_only", l2=0.0)(m, x, y)
    with_l2, _, _ = make_loss("correct_only", l2=0.1)(m, x, y)
    squares = sum((p ** 2).sum() for n, p in m.named_parameters() if n.endswith("weight"))  # weights, not biases
    assert torch.allclose(with_l2 - plain, 0.5 * 0.1 * squares, rtol=1e-5)
