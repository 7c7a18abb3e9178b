"""Online handwriting: characters drawn as strokes, from file to model input, and the synthetic
drawings fude trains its stroke recognizers on.

    formats.py   Character, the checks and limits, fude's JSON, Tomoe's .tdic and the drawing app's layout
    features.py  normalise, B-spline resampling, sequence features, rasterisation
    kanjivg.py   KanjiVG's stroke-order SVGs as strokes; standard stroke counts
    synth.py     varied drawings generated from KanjiVG strokes
"""

from fude.strokes.features import (bounds, normalise, rasterise, resample, resample_stroke, sequence_features,
                                   share_points, stroke_length)
from fude.strokes.formats import (MAX_COORD, MAX_LINE_POINTS, MAX_LINE_STROKES, MAX_POINTS, MAX_STROKES, Character, StrokeError, check_strokes,
                                  from_app_dict, from_json_dict, load_tomoe, read_drawing, read_json, read_tdic,
                                  write_json)

__all__ = ["MAX_COORD", "MAX_LINE_POINTS", "MAX_LINE_STROKES", "MAX_POINTS", "MAX_STROKES", "Character", "StrokeError", "bounds", "check_strokes",
           "from_app_dict", "from_json_dict", "normalise", "rasterise", "read_drawing", "read_json", "resample",
           "load_tomoe", "read_tdic", "resample_stroke", "sequence_features", "share_points", "stroke_length", "write_json"]
