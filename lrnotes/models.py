"""The models the chapters train: an MLP, a small CNN, a CIFAR-style ResNet-18, a small ResNet
for the quick profile, an LSTM text classifier, a 1-D CNN for
MNIST-1D and a small CNN for layer-wise rates (after
slide 10's idea, not the talk's model).

Every docstring states the input and output shapes and the parameter count for the default
arguments (the tests check the counts). torchvision is imported only by
:func:`resnet18_cifar`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from itertools import pairwise

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from lrnotes.env import optional_import


def _positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def _probability(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in [0, 1), got {value!r}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")


class MLP(nn.Sequential):
    """A multilayer perceptron: ``Flatten``, then ``Linear -> ReLU -> Dropout`` per hidden
    width, then a ``Linear`` to ``out_features`` logits.

    Input ``N x in_features`` (or any ``N x ...`` that flattens to it, such as ``N x 1 x 8 x 8``
    digits); output ``N x out_features``.

    Parameters: 9,610 for ``MLP(64)`` (64 -> 128 -> 10, the digits).

    Example::

        >>> model = MLP(64, hidden=(128,), out_features=10)
        >>> model(torch.randn(32, 64)).shape
        torch.Size([32, 10])
    """

    def __init__(self, in_features: int, hidden: Sequence[int] = (128,), out_features: int = 10,
                 dropout: float = 0.0):
        _positive("in_features", in_features)
        _positive("out_features", out_features)
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
            raise TypeError(f"hidden must be a sequence of layer widths, e.g. (128,) or (), "
                            f"got {hidden!r}")
        for width in hidden:
            _positive("hidden", width)
        _probability("dropout", dropout)
        layers: list[nn.Module] = [nn.Flatten()]
        widths = [in_features, *hidden]
        for width_in, width_out in pairwise(widths):
            layers += [nn.Linear(width_in, width_out), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(widths[-1], out_features))
        super().__init__(*layers)


class SmallCNN(nn.Module):
    """A small convolutional network for 8x8 digits and 32x32 images alike.

    ``features``: ``[Conv3x3 -> ReLU] x 2 -> MaxPool2 -> Conv3x3 -> ReLU`` (widths ``width``,
    ``width``, ``2 * width``), then ``AdaptiveAvgPool2d(1)``, so any image of at least 2x2
    works; ``classifier``: ``Flatten -> Dropout -> Linear(2 * width, num_classes)``.

    Input ``N x in_channels x H x W``; output ``N x num_classes``.

    Parameters: 28,714 for ``SmallCNN()`` (``in_channels=1, num_classes=10, width=32``).

    Example::

        >>> model = SmallCNN(in_channels=3, num_classes=10)
        >>> model(torch.randn(8, 3, 32, 32)).shape
        torch.Size([8, 10])
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 32,
                 dropout: float = 0.0):
        super().__init__()
        _positive("in_channels", in_channels)
        _positive("num_classes", num_classes)
        _positive("width", width)
        _probability("dropout", dropout)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(dropout),
                                        nn.Linear(2 * width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class ConvNet1d(nn.Module):
    """A small 1-D convolutional network for MNIST-1D, after the paper's ``ConvBase``
    (Greydanus, 2020): three ``Conv1d -> ReLU`` layers of ``channels`` channels, each with
    stride 2 (kernel sizes 5, 3, 3), then ``Flatten -> Linear`` to ``num_classes`` logits.

    Input ``N x length`` or ``N x 1 x length`` (MNIST-1D: length 40, which the convolutions
    take to 19, 10, then 5); output ``N x num_classes``.

    Parameters: 5,210 for ``ConvNet1d()`` (``length=40, channels=25, num_classes=10``).

    Example::

        >>> model = ConvNet1d(length=40)
        >>> model(torch.randn(32, 40)).shape
        torch.Size([32, 10])
    """

    def __init__(self, length: int = 40, channels: int = 25, num_classes: int = 10):
        super().__init__()
        _positive("length", length)
        _positive("channels", channels)
        _positive("num_classes", num_classes)
        out = length
        for kernel, padding in ((5, 1), (3, 1), (3, 1)):
            out = (out + 2 * padding - kernel) // 2 + 1
            if out < 1:
                raise ValueError(f"length must be at least 3 (what the first convolution "
                                 f"needs with its padding), got {length!r}")
        self.features = nn.Sequential(
            nn.Conv1d(1, channels, 5, stride=2, padding=1), nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.ReLU(),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(channels * out, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:  # N x length: one input channel
            x = x.unsqueeze(1)
        return self.classifier(self.features(x))


def resnet18_cifar(num_classes: int = 10) -> nn.Module:
    """ResNet-18 for 32x32 images (He et al., 2016): torchvision's ``resnet18(weights=None)``
    with a 3x3, stride-1 first convolution and no max-pool, so the 32x32 input is not cut to
    8x8 before the first residual stage (the usual CIFAR adaptation).

    Input ``N x 3 x 32 x 32``; output ``N x num_classes``. Layers keep torchvision's names
    (``conv1``, ``bn1``, ``layer1`` ... ``layer4``, ``fc``).

    Parameters: 11,173,962 for ``resnet18_cifar(10)``.

    Example::

        >>> model = resnet18_cifar(num_classes=10)
        >>> model(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """
    _positive("num_classes", num_classes)
    resnet18 = optional_import("torchvision.models", "lrnotes.models.resnet18_cifar()").resnet18
    model = resnet18(weights=None, num_classes=num_classes)
    model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model


class _BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 conv-BN) shortcut, as in ResNet-18."""

    def __init__(self, channels_in: int, channels_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels_out)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels_out)
        self.relu = nn.ReLU()
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or channels_in != channels_out:
            self.downsample = nn.Sequential(
                nn.Conv2d(channels_in, channels_out, 1, stride, bias=False),
                nn.BatchNorm2d(channels_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.downsample(x))


class SmallResNet(nn.Module):
    """A three-stage ResNet for small images (the quick profile's stand-in for ResNet-18).

    ``conv1 -> bn1 -> relu``, then ``layer1``, ``layer2``, ``layer3`` (one basic block each,
    widths ``width``, ``2 * width``, ``4 * width``, strides 1, 2, 2), global average pooling
    and ``fc``: the names follow torchvision's ResNet, so code that addresses ``layer1`` or
    ``fc`` of :func:`resnet18_cifar` works here too.

    Input ``N x in_channels x H x W`` (8x8 digits: ``N x 1 x 8 x 8``); output
    ``N x num_classes``.

    Parameters: 77,754 for ``SmallResNet()`` (``num_classes=10, in_channels=1, width=16``).

    Example::

        >>> model = small_resnet(num_classes=10, in_channels=1, width=16)
        >>> model(torch.randn(4, 1, 8, 8)).shape
        torch.Size([4, 10])
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: int = 16):
        super().__init__()
        _positive("num_classes", num_classes)
        _positive("in_channels", in_channels)
        _positive("width", width)
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.layer1 = _BasicBlock(width, width, stride=1)
        self.layer2 = _BasicBlock(width, 2 * width, stride=2)
        self.layer3 = _BasicBlock(2 * width, 4 * width, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def small_resnet(num_classes: int = 10, in_channels: int = 1, width: int = 16) -> SmallResNet:
    """The quick profile's ResNet: ``SmallResNet(num_classes, in_channels, width)``.

    Input ``N x in_channels x H x W``; output ``N x num_classes``.

    Parameters: 77,754 for ``small_resnet()``.

    Example::

        >>> model = small_resnet()
        >>> model(torch.randn(4, 1, 8, 8)).shape
        torch.Size([4, 10])
    """
    return SmallResNet(num_classes=num_classes, in_channels=in_channels, width=width)


class LSTMClassifier(nn.Module):
    """Embedding -> (packed) LSTM -> last hidden state -> Linear.

    ``forward(tokens, lengths)`` takes ``tokens``, an int64 ``B x T`` batch padded with
    ``pad_index``, and ``lengths``, the ``B`` true lengths (each >= 1), as
    :func:`lrnotes.data.pad_collate` gives them. The sequences are packed
    (``enforce_sorted=False``, batch order kept), so padding never enters the LSTM; the
    features are the final hidden state of the last layer (both directions concatenated
    when ``bidirectional``). Dropout acts on the embeddings, between LSTM layers and before
    the classifier. ``lengths=None`` means every sequence is ``T`` long, and
    ``model((tokens, lengths))`` works too, for training loops that call ``model(inputs)``.
    Lengths are moved to the cpu for packing, as torch requires.

    Input ``tokens`` ``B x T`` (int64) and ``lengths`` ``B``; output ``B x num_classes``
    logits.

    Parameters: 97,410 for ``LSTMClassifier(1000)`` (``embed_dim=64, hidden_size=64``).

    Example::

        >>> model = LSTMClassifier(vocab_size=1000)
        >>> model(torch.randint(1, 1000, (4, 12)), torch.tensor([12, 7, 3, 1])).shape
        torch.Size([4, 2])
    """

    def __init__(self, vocab_size: int, embed_dim: int = 64, hidden_size: int = 64,
                 num_classes: int = 2, num_layers: int = 1, bidirectional: bool = False,
                 dropout: float = 0.0, pad_index: int = 0):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("embed_dim", embed_dim),
                            ("hidden_size", hidden_size), ("num_classes", num_classes),
                            ("num_layers", num_layers)):
            _positive(name, value)
        _probability("dropout", dropout)
        if isinstance(pad_index, bool) or not isinstance(pad_index, numbers.Integral):
            raise TypeError(f"pad_index must be an integer, got {pad_index!r}")
        if not isinstance(bidirectional, bool):
            raise TypeError(f"bidirectional must be True or False, got {bidirectional!r}")
        if not 0 <= pad_index < vocab_size:
            raise ValueError(f"pad_index must be in [0, vocab_size - 1] = [0, {vocab_size - 1}], "
                             f"got {pad_index!r}")
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_index)
        self.lstm = nn.LSTM(embed_dim, hidden_size, num_layers=num_layers, batch_first=True,
                            bidirectional=bidirectional,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

    def forward(self, tokens: torch.Tensor | tuple[torch.Tensor, torch.Tensor],
                lengths: torch.Tensor | None = None) -> torch.Tensor:
        if isinstance(tokens, (tuple, list)):
            tokens, lengths = tokens
        if lengths is None:
            lengths = torch.full((tokens.shape[0],), tokens.shape[1], dtype=torch.long)
        embedded = self.dropout(self.embedding(tokens))
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        _, (hidden, _) = self.lstm(packed)  # hidden: (layers * directions) x B x H
        if self.lstm.bidirectional:
            last = torch.cat([hidden[-2], hidden[-1]], dim=1)
        else:
            last = hidden[-1]
        return self.fc(self.dropout(last))


class CustomModel(nn.Module):
    """A small CNN for layer-wise learning rates after slide 10's idea (not the talk's model:
    that one has conv1, conv2 and fc in three groups), with shapes that fit together.

    ``features``: ``Conv3x3(in_channels, 16) -> ReLU -> MaxPool2 -> Conv3x3(16, 32) -> ReLU
    -> MaxPool2``, which maps ``N x in_channels x S x S`` to ``N x 32 x S/4 x S/4``;
    ``classifier``: ``Flatten -> Linear(32 * (S/4)**2, 64) -> ReLU -> Linear(64,
    num_classes)``. The first Linear's input size is computed from ``image_size`` (``S``),
    so the flattened features always match it. Give the two parts their own rates::

        torch.optim.SGD([{"params": model.features.parameters(), "lr": 1e-3},
                         {"params": model.classifier.parameters(), "lr": 1e-2}])

    Input ``N x in_channels x S x S`` (``S`` divisible by 4); output ``N x num_classes``.

    Parameters: 13,706 for ``CustomModel()`` (``in_channels=1, num_classes=10,
    image_size=8``, the digits).

    Example::

        >>> model = CustomModel(in_channels=3, num_classes=10, image_size=32)
        >>> model(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 8):
        super().__init__()
        _positive("in_channels", in_channels)
        _positive("num_classes", num_classes)
        _positive("image_size", image_size)
        if image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4 (two 2x2 poolings), "
                             f"got {image_size!r}")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * (image_size // 4) ** 2, 64), nn.ReLU(),
            nn.Linear(64, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
