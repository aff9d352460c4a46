"""Inception on the CPU through ONNX Runtime: the same network, exported once per machine, about 1.5x eager PyTorch.

On the CPU, eager PyTorch runs Inception-v3's convolutions one by one; ONNX Runtime's graph optimisations
(fused convolution chains, pre-packed weights, its own thread pool) run the identical network faster
(``benchmarks/inception_throughput.py`` prints both beside torch-fidelity's path). The exported graph is the
network itself, resize and normalisation included, so the features agree with PyTorch's to about 1e-5, within
the 1e-4 the feature tests pin.

Two things make it cheap to start:

- **The resize as two matrix products.** torch-fidelity resizes to 299 x 299 as TensorFlow 1 did, by gathering
  the four neighbours of every output pixel; traced into the graph, those gathers take about 6% of its time.
  The same bilinear resize is ``Wy @ image @ Wx^T``, with two non-zero weights in each row of ``Wy`` and ``Wx``
  computed exactly as torch-fidelity computes its neighbours and fractions (:func:`tf1_bilinear_matrix`), so
  the graph holds two small matrix products instead. It is swapped in only while the network is traced.
- **The graph is written once per machine** (``graph_file``, under the cache, named by everything it depends on:
  weights, fusion, input shape, outputs, torch and the exporter's opset), as the converted weights are, so
  each later process loads it in a fraction of a second instead of building the network in PyTorch (0.5 s) and
  tracing it again (about 1.5 s, a third of it importing ``onnx``).

Without the ``onnx`` and ``onnxruntime`` packages, or on a GPU, :class:`reports.metrics.fidelity.InceptionExtractor`
keeps eager PyTorch.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import torch
import torch_fidelity.feature_extractor_inceptionv3 as torch_fidelity_inception

from benchmark.files import write_bytes

log = logging.getLogger(__name__)
BACKENDS = ("auto", "onnxruntime", "torch")
OPSET = 17
GRAPH_VERSION = 2  # part of the graph file's name: bump it when the exported graph changes


def onnxruntime_available() -> bool:
    """Both packages installed: ``onnx`` for torch's exporter, ``onnxruntime`` to run the graph."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))


def tf1_bilinear_matrix(in_size: int, out_size: int) -> torch.Tensor:
    """(out_size, in_size) float32: TensorFlow 1's bilinear resize of one axis (``align_corners=False``) as a
    matrix, with torch-fidelity's arithmetic: source coordinate ``i * (in / out)`` in float32, its floor and the
    next pixel (clamped at the edge), weighted by one minus the fraction and by the fraction."""
    coordinate = torch.arange(out_size, dtype=torch.float32) * torch.tensor(in_size / out_size, dtype=torch.float32)
    low = coordinate.long()
    high = (low + 1).clamp_max(in_size - 1)
    fraction = coordinate - low.float()
    rows = torch.arange(out_size)
    matrix = torch.zeros(out_size, in_size)
    matrix.index_put_((rows, low), 1 - fraction, accumulate=True)
    matrix.index_put_((rows, high), fraction, accumulate=True)
    return matrix


def separable_resize(images: torch.Tensor, size, align_corners: bool) -> torch.Tensor:
    """torch-fidelity's ``interpolate_bilinear_2d_like_tensorflow1x`` for (N, C, H, W) float images, as
    ``Wy @ images @ Wx^T``: equal to it up to float rounding (1e-4 of a pixel value, tested)."""
    if align_corners:
        raise ValueError("separable_resize implements torch-fidelity's align_corners=False only")
    height, width = size
    rows = tf1_bilinear_matrix(images.shape[-2], height).to(images)
    columns = tf1_bilinear_matrix(images.shape[-1], width).to(images)
    return rows @ images @ columns.T


def export_graph(network: torch.nn.Module, example: torch.Tensor, outputs: int) -> bytes:
    """The ONNX graph (bytes) of ``network`` (torch-fidelity's Inception) on inputs shaped like ``example``, any
    batch size, with its resize traced as :func:`separable_resize`."""
    names = [f"output{i}" for i in range(outputs)]
    buffer = io.BytesIO()
    with warnings.catch_warnings(), mock.patch.object(torch_fidelity_inception,
                                                      "interpolate_bilinear_2d_like_tensorflow1x", separable_resize):
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notices
        torch.onnx.export(network, (example,), buffer, dynamo=False, input_names=["images"], output_names=names,
                          dynamic_axes={"images": {0: "batch"}, **{name: {0: "batch"} for name in names}},
                          opset_version=OPSET)
    return buffer.getvalue()


_LOADED: dict[tuple[str, int], OnnxNetwork] = {}  # by graph file name (which names its contents) and threads


def onnx_network(graph_file: Path, network: Callable[[], torch.nn.Module], example: torch.Tensor, outputs: int,
                 threads: int) -> OnnxNetwork:
    """The network run by ONNX Runtime from ``graph_file``, exported there from ``network()`` first if it is
    missing or unreadable, loaded once per process for each graph and thread count, so a suite or test session
    that builds many extractors, under any cache folder, pays the loading once."""
    key = (graph_file.name, threads)
    if key not in _LOADED:
        import onnxruntime

        graph = graph_file.read_bytes() if graph_file.is_file() else None
        try:
            loaded = None if graph is None else OnnxNetwork(graph, threads)
        except (onnxruntime.capi.onnxruntime_pybind11_state.InvalidProtobuf,
                onnxruntime.capi.onnxruntime_pybind11_state.Fail) as error:  # a damaged cache file: export again
            log.warning("exporting Inception again: %s is unreadable (%s)", graph_file, error)
            loaded = None
        if loaded is None:
            log.info("exporting Inception to ONNX at %s", graph_file)
            graph = export_graph(network(), example, outputs)
            write_bytes(graph_file, graph)
            loaded = OnnxNetwork(graph, threads)
        _LOADED[key] = loaded
    return _LOADED[key]


class OnnxNetwork:
    """An exported forward pass (uint8 images in, a tuple of float tensors out) run by ONNX Runtime on the CPU."""

    def __init__(self, graph: bytes, threads: int):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads  # torch's thread count (deepbench --threads) governs both
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-waiting between batches
        self.session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = self.session.run(None, {"images": images.contiguous().numpy()})
        return tuple(torch.from_numpy(output) for output in outputs)
