"""Inception on the CPU through ONNX Runtime: the same network, exported once per process, about 1.5x eager PyTorch.

On the CPU, eager PyTorch runs Inception-v3's convolutions one by one; ONNX Runtime's graph optimisations
(fused convolution chains, pre-packed weights, its own thread pool) run the identical network faster
(``benchmarks/inception_throughput.py`` prints both beside torch-fidelity's path). The exported graph is the
network itself, resize and normalisation included, so the features agree with PyTorch's to about 1e-5, within
the 1e-4 the feature tests pin. It is exported in memory from the already-fused network the first time a
process meets an image shape (a few seconds against minutes of extraction), so there is no second file to
keep in step with the weights. Without the ``onnx`` and ``onnxruntime`` packages, or on a GPU,
:class:`reports.metrics.fidelity.InceptionExtractor` keeps eager PyTorch.
"""

from __future__ import annotations

import importlib.util
import io
import warnings

import torch

BACKENDS = ("auto", "onnxruntime", "torch")
OPSET = 17


def onnxruntime_available() -> bool:
    """Both packages installed: ``onnx`` for torch's exporter, ``onnxruntime`` to run the graph."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))


_EXPORTED: dict[tuple, OnnxNetwork] = {}


def onnx_network(key: tuple, network: torch.nn.Module, example: torch.Tensor, outputs: int,
                 threads: int) -> OnnxNetwork:
    """The network run by ONNX Runtime, exported once per process for each ``key``: everything the graph
    depends on (weights, fusion, input shape, outputs, threads), so a suite or test session that builds
    many extractors pays the export's seconds once."""
    if key not in _EXPORTED:
        _EXPORTED[key] = OnnxNetwork(network, example, outputs, threads)
    return _EXPORTED[key]


class OnnxNetwork:
    """A module's forward pass (uint8 images in, a tuple of float tensors out) run by ONNX Runtime on the CPU."""

    def __init__(self, network: torch.nn.Module, example: torch.Tensor, outputs: int, threads: int):
        import onnxruntime

        names = [f"output{i}" for i in range(outputs)]
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notices
            torch.onnx.export(network, (example,), buffer, dynamo=False, input_names=["images"], output_names=names,
                              dynamic_axes={"images": {0: "batch"}, **{name: {0: "batch"} for name in names}},
                              opset_version=OPSET)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads  # torch's thread count (deepbench --threads) governs both
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-waiting between batches
        self.session = onnxruntime.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = self.session.run(None, {"images": images.contiguous().numpy()})
        return tuple(torch.from_numpy(output) for output in outputs)
