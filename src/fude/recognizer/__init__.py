"""Reading characters: :func:`load_model` (a model folder as a recognizer), :class:`Recognizer` (a
network run in PyTorch with its class map and reading settings), :class:`OnnxRecognizer` (the same
reading with the network's ONNX file in onnxruntime, without PyTorch), :class:`RecognizerConfig`
(the settings, saved with the model) and the composable parts a drawing is read by
(:mod:`fude.recognizer.reading`: scorer, small-kana split, priors, stroke-count evidence, filter,
ranking).

    config.py    RecognizerConfig                       reading.py   the parts a drawing is read by
    base.py      BaseRecognizer: what both recognizers share (no PyTorch)
    loading.py   load_model (no PyTorch)                onnx.py      OnnxRecognizer (onnxruntime)
    network.py   Recognizer (PyTorch): imported on first use, so that reading in onnxruntime
                 never imports PyTorch
    writer.py    Writer: a writer's memory (rec.writer()), reading with the drawings they confirmed
"""

from fude.recognizer.base import BaseRecognizer, companion_location, companion_problem
from fude.recognizer.config import INK_BOX, RecognizerConfig, save_recognizer_config
from fude.recognizer.loading import BACKENDS, load_model, reading_backend, uses_onnx_file
from fude.recognizer.reading import SMALL_KANA_SHARE, FrequencyPrior, Rescorer, Scorer, ScriptPrior, StrokeCount, \
    StrokeReader, extra_strokes, rank, rescorers, small_kana_pairs, split_small_kana

_LAZY = {"AUTO_BF16_MIN_BATCH": "network", "ORT_MIN_GFLOP": "network", "ORT_MIN_IMAGES": "network",
         "Recognizer": "network", "to_input": "network", "OnnxRecognizer": "onnx", "Writer": "writer",
         "WriterError": "writer", "WriterSettings": "writer"}

__all__ = ["AUTO_BF16_MIN_BATCH", "BACKENDS", "BaseRecognizer", "FrequencyPrior", "INK_BOX", "ORT_MIN_GFLOP",
           "ORT_MIN_IMAGES", "OnnxRecognizer", "Recognizer", "RecognizerConfig", "Rescorer", "SMALL_KANA_SHARE",
           "Scorer", "ScriptPrior", "StrokeCount", "StrokeReader", "companion_location", "companion_problem",
           "extra_strokes", "load_model", "rank", "reading_backend", "rescorers", "save_recognizer_config",
           "small_kana_pairs", "split_small_kana", "to_input", "uses_onnx_file", "Writer", "WriterError",
           "WriterSettings"]


def __getattr__(name: str):
    import importlib

    if name not in _LAZY:
        raise AttributeError(f"module 'fude.recognizer' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"fude.recognizer.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
