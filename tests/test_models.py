"""The chapters' models: shapes in, shapes out, gradients everywhere, and the parameter counts
their docstrings print."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

import lrnotes.models as models
from lrnotes.models import (
    MLP,
    ConvNet1d,
    CustomModel,
    LSTMClassifier,
    SmallCNN,
    SmallResNet,
    resnet18_cifar,
    small_resnet,
)

DOCUMENTED = [MLP, SmallCNN, resnet18_cifar, SmallResNet, small_resnet, LSTMClassifier,
              CustomModel, ConvNet1d]


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def forward_backward(model: nn.Module, *inputs, out_shape: tuple[int, ...]) -> torch.Tensor:
    out = model(*inputs)
    assert out.shape == out_shape
    out.square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), name
    return out


@pytest.mark.parametrize("factory", DOCUMENTED, ids=lambda f: f.__name__)
def test_docstring_parameter_count_is_the_real_count(factory):
    doc = factory.__doc__
    assert "Input" in doc and "utput" in doc, "the docstring states input and output shapes"
    match = re.search(r"Parameters: ([\d,]+) for ``([^`]+)``", doc)
    assert match, "the docstring prints 'Parameters: N for ``call``'"
    stated = int(match.group(1).replace(",", ""))
    model = eval(match.group(2), vars(models))  # the call the docstring names
    assert isinstance(model, nn.Module)
    assert count(model) == stated


def test_mlp_flattens_images_and_stacks_hidden_layers():
    torch.manual_seed(0)
    forward_backward(MLP(64), torch.randn(5, 64), out_shape=(5, 10))
    forward_backward(MLP(64, hidden=(32, 16), out_features=3, dropout=0.1),
                     torch.randn(5, 1, 8, 8), out_shape=(5, 3))
    linears = [m for m in MLP(64, hidden=(32, 16), out_features=3) if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(64, 32), (32, 16), (16, 3)]
    assert count(MLP(4, hidden=(), out_features=2)) == 4 * 2 + 2


def test_small_cnn_takes_digits_and_cifar_sized_images():
    torch.manual_seed(0)
    forward_backward(SmallCNN(), torch.randn(4, 1, 8, 8), out_shape=(4, 10))
    forward_backward(SmallCNN(in_channels=3, num_classes=7, width=8, dropout=0.2),
                     torch.randn(2, 3, 32, 32), out_shape=(2, 7))


def test_resnet18_cifar_has_a_3x3_stride_1_stem_and_no_maxpool():
    torch.manual_seed(0)
    model = resnet18_cifar(num_classes=10)
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert isinstance(model.maxpool, nn.Identity)
    # torchvision's ImageNet ResNet-18 with 10 classes has 11,181,642 parameters; only the
    # stem differs (7x7x3x64 -> 3x3x3x64).
    assert 11_181_642 - count(model) == (49 - 9) * 3 * 64
    shapes = []
    model.layer1.register_forward_hook(lambda module, inputs, output: shapes.append(output.shape))
    forward_backward(model, torch.randn(2, 3, 32, 32), out_shape=(2, 10))
    assert shapes == [(2, 64, 32, 32)], "the first stage sees the full 32x32 image"


def test_small_resnet_on_digits_and_torchvision_names():
    torch.manual_seed(0)
    model = small_resnet(num_classes=5, in_channels=1, width=8)
    assert isinstance(model, SmallResNet)
    forward_backward(model, torch.randn(4, 1, 8, 8), out_shape=(4, 5))
    names = {name.split(".")[0] for name, _ in model.named_parameters()}
    assert names == {"conv1", "bn1", "layer1", "layer2", "layer3", "fc"}
    forward_backward(small_resnet(in_channels=3), torch.randn(2, 3, 32, 32), out_shape=(2, 10))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_ignores_padding_through_packing(bidirectional):
    torch.manual_seed(0)
    model = LSTMClassifier(50, embed_dim=8, hidden_size=6, num_classes=3, num_layers=2,
                           bidirectional=bidirectional, dropout=0.0)
    model.eval()
    short = torch.tensor([[5, 9, 2]])
    padded = torch.tensor([[7, 3, 4, 8, 1], [5, 9, 2, 0, 0]])
    out = model(padded, torch.tensor([5, 3]))
    alone = model(short, torch.tensor([3]))
    torch.testing.assert_close(out[1], alone[0])
    # With the padding counted as tokens the answer changes: packing is what removes it.
    assert not torch.allclose(model(padded, torch.tensor([5, 5]))[1], alone[0])


def test_lstm_forward_backward_tuple_input_and_defaults():
    torch.manual_seed(0)
    model = LSTMClassifier(vocab_size=100, dropout=0.3, bidirectional=True, num_layers=2)
    tokens = torch.randint(1, 100, (4, 12))
    lengths = torch.tensor([12, 7, 3, 1])
    forward_backward(model, tokens, lengths, out_shape=(4, 2))
    model.eval()
    torch.testing.assert_close(model((tokens, lengths)), model(tokens, lengths))
    torch.testing.assert_close(model(tokens), model(tokens, torch.full((4,), 12)))
    assert model.embedding.padding_idx == 0


def test_custom_model_shapes_fit_for_digits_and_cifar():
    torch.manual_seed(0)
    model = CustomModel()
    assert model.features(torch.randn(3, 1, 8, 8)).shape == (3, 32, 2, 2)
    assert model.classifier[1].in_features == 32 * 2 * 2
    forward_backward(model, torch.randn(3, 1, 8, 8), out_shape=(3, 10))
    forward_backward(CustomModel(in_channels=3, num_classes=4, image_size=32),
                     torch.randn(2, 3, 32, 32), out_shape=(2, 4))
    groups = [{"params": model.features.parameters(), "lr": 1e-3},
              {"params": model.classifier.parameters(), "lr": 1e-2}]
    optimizer = torch.optim.SGD(groups)
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(model.parameters()))


@pytest.mark.parametrize("make, argname", [
    (lambda: MLP(0), "in_features"),
    (lambda: MLP(8, hidden=(4, 0)), "hidden"),
    (lambda: MLP(8, dropout=1.0), "dropout"),
    (lambda: SmallCNN(width=0), "width"),
    (lambda: small_resnet(num_classes=0), "num_classes"),
    (lambda: resnet18_cifar(num_classes=0), "num_classes"),
    (lambda: LSTMClassifier(10, pad_index=10), "pad_index"),
    (lambda: LSTMClassifier(10, dropout=-0.1), "dropout"),
    (lambda: CustomModel(image_size=10), "image_size"),
])
def test_bad_arguments_name_themselves(make, argname):
    with pytest.raises(ValueError, match=argname):
        make()


@pytest.mark.parametrize("make, error, argname", [
    (lambda: MLP(8, hidden=5), TypeError, "hidden"),
    (lambda: MLP(8, hidden="64"), TypeError, "hidden"),
    (lambda: MLP(8, dropout="0.1"), TypeError, "dropout"),
    (lambda: MLP(8.0), ValueError, "in_features"),
    (lambda: SmallCNN(dropout=None), TypeError, "dropout"),
    (lambda: LSTMClassifier(10, pad_index=0.0), TypeError, "pad_index"),
    (lambda: LSTMClassifier(10, bidirectional="yes"), TypeError, "bidirectional"),
])
def test_wrong_types_name_the_argument(make, error, argname):
    with pytest.raises(error, match=argname):
        make()


def test_mlp_without_hidden_layers_and_numpy_widths():
    import numpy as np

    assert len(MLP(8, hidden=(), out_features=3)) == 2  # Flatten, Linear
    model = MLP(np.int64(8), hidden=[np.int64(4)], out_features=2)
    forward_backward(model, torch.randn(3, 8), out_shape=(3, 2))


def test_missing_torchvision_names_the_extra(monkeypatch):
    import importlib

    real = importlib.import_module

    def no_torchvision(name, *args):
        if name.startswith("torchvision"):
            raise ModuleNotFoundError("No module named 'torchvision'", name="torchvision")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", no_torchvision)
    with pytest.raises(ModuleNotFoundError, match=r'lrnotes\[notebooks\]'):
        resnet18_cifar()


def test_convnet1d_takes_flat_or_channel_signals_and_checks_its_length():
    torch.manual_seed(0)
    flat = forward_backward(ConvNet1d(), torch.randn(5, 40), out_shape=(5, 10))
    torch.manual_seed(0)
    channel = ConvNet1d()(torch.randn(5, 40).unsqueeze(1))
    assert torch.equal(flat, channel)  # N x 40 is N x 1 x 40
    forward_backward(ConvNet1d(length=3, channels=3, num_classes=2), torch.randn(2, 3),
                     out_shape=(2, 2))
    with pytest.raises(ValueError, match="length must be at least 3"):
        ConvNet1d(length=2)
    with pytest.raises(ValueError, match="channels"):
        ConvNet1d(channels=0)
