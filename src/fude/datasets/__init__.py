"""Datasets: a registry of named datasets with checksummed download and a local mirror, file
formats (npz, IDX, Kaggle CSV, image folders), preprocessing of any picture into the dataset
layout, and batch augmentation for training.

Every loader returns a :class:`Dataset`: uint8 images ``(N, 28, 28)`` (ink bright on a dark
background, as in MNIST), int64 labels ``(N,)`` (or ``None`` for unlabelled data) and a
:class:`~fude.classmap.ClassMap`; stroke sequences come as a :class:`SequenceDataset`.

    base.py        Dataset, SequenceDataset, the input shapes
    cache.py       the cache/mirror folder and checksummed download
    registry.py    DATASETS and load_dataset; STROKE_SOURCES (KanjiVG, Tomoe) and stroke_source;
                   IMAGE_SOURCES (Mediotaku's real casual drawings) and load_pictures
    formats.py     npz, IDX, CSV, image folders; save_pair
    preprocess.py  a photo, scan or drawing -> a 28x28 dataset image
    stats.py       pixel moments and ink boxes, the statistics training takes from images
    augment.py     random affine, elastic distortion, random erasing on whole batches
"""

from fude.datasets.base import IMAGE_SIZE, INK_BOX, SEQUENCE_FEATURES, Dataset, DatasetError, SequenceDataset
from fude.datasets.cache import RemoteFile, default_data_dir, fetch
from fude.datasets.formats import (load_csv, load_image_folder, load_pair, load_sequences, read_array, read_idx,
                                   save_pair)
from fude.datasets.registry import (DATASETS, IMAGE_SOURCES, STROKE_SOURCES, DatasetSpec, ImageSource,
                                    LabelledPictures, StrokeSource, containing, load_dataset, load_pictures,
                                    stroke_source)

__all__ = ["DATASETS", "IMAGE_SOURCES", "ImageSource", "LabelledPictures", "load_pictures", "IMAGE_SIZE", "INK_BOX", "SEQUENCE_FEATURES", "STROKE_SOURCES", "Dataset", "DatasetError", "DatasetSpec",
           "RemoteFile", "SequenceDataset", "StrokeSource", "default_data_dir", "fetch", "load_csv", "load_dataset",
           "load_image_folder", "load_pair", "load_sequences", "read_array", "read_idx", "save_pair", "containing",
           "stroke_source"]
