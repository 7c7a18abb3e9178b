"""Reading characters: :class:`Recognizer` (a network with its class map and reading settings, what
``fude.load_model`` returns), :class:`RecognizerConfig` (the settings, saved with the model) and the
composable parts a drawing is read by (:mod:`fude.recognizer.reading`: scorer, small-kana split,
priors, stroke-count evidence, filter, ranking)."""

from fude.recognizer.config import INK_BOX, RecognizerConfig, save_recognizer_config
from fude.recognizer.network import AUTO_BF16_MIN_BATCH, BACKENDS, ORT_MIN_GFLOP, ORT_MIN_IMAGES, Recognizer, \
    companion_location, companion_problem, load_model, to_input
from fude.recognizer.reading import SMALL_KANA_SHARE, FrequencyPrior, Rescorer, Scorer, ScriptPrior, StrokeCount, \
    StrokeReader, extra_strokes, rank, rescorers, small_kana_pairs, split_small_kana

__all__ = ["AUTO_BF16_MIN_BATCH", "BACKENDS", "INK_BOX", "ORT_MIN_GFLOP", "ORT_MIN_IMAGES", "SMALL_KANA_SHARE",
           "FrequencyPrior", "Recognizer", "RecognizerConfig", "Rescorer", "Scorer", "ScriptPrior", "StrokeCount",
           "StrokeReader", "companion_location", "companion_problem", "extra_strokes", "load_model", "rank", "rescorers",
           "save_recognizer_config", "small_kana_pairs", "split_small_kana", "to_input"]
