import hashlib
import gzip
import urllib.request

import numpy as np
import pytest

import fude
from fude import datasets
from fude.classmap import ClassMap
from fude.datasets import DatasetError, RemoteFile

from conftest import REPO, write_csv, write_idx


def test_mnist_idx_from_mirror(mnist_test):
    d = mnist_test
    assert d.images.shape == (10000, 28, 28) and d.images.dtype == np.uint8
    assert d.labels.dtype == np.int64 and d.labels.shape == (10000,)
    assert d.labels[:5].tolist() == [7, 2, 1, 0, 4]  # the well-known first MNIST test labels
    assert np.bincount(d.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert d.class_map.chars == tuple("0123456789")
    assert d.source["files"][0]["md5"] == "9fb629c4189551a2d022fa330f9573f3"


def test_kmnist_dev_npz_from_mirror(kmnist_dev):
    d = kmnist_dev
    assert d.images.shape == (8000, 28, 28)
    assert np.bincount(d.labels).tolist() == [800] * 10
    assert d.class_map.char(0) == "お" and d.class_map.codepoint(0) == "U+304A"
    assert "".join(d.class_map.chars) == "おきすつなはまやれを"


def test_packaged_classmaps_are_the_official_files():
    official = {"kmnist_classmap.csv": "899202f6e8dc29a321ac210a03d0f2f1",
                "k49_classmap.csv": "f7d0d0391f68bdf0fe4cf160ceb85753"}
    for name, md5 in official.items():
        data = (REPO / "src" / "fude" / "resources" / name).read_bytes()
        assert hashlib.md5(data).hexdigest() == md5
    k49 = ClassMap.packaged("k49")
    assert len(k49) == 49 and k49.char(0) == "あ" and k49.codepoint(48) == "U+309D"


def _register_local(monkeypatch, name, files_for_split, classmap):
    """Point a registry entry at files the test wrote, with their real md5 (the download path is
    the same code that checks official files)."""
    splits = {split: tuple(RemoteFile(p.name, "http://invalid.example/" + p.name, p.stat().st_size,
                                      hashlib.md5(p.read_bytes()).hexdigest()) for p in files)
              for split, files in files_for_split.items()}
    spec = datasets.DatasetSpec(name, splits, classmap, "test")
    monkeypatch.setitem(datasets.DATASETS, name, spec)


def test_k49_npz_official_layout(isolated_data_dir, monkeypatch, kmnist_dev):
    k49 = isolated_data_dir / "k49"
    k49.mkdir()
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 49, 300).astype(np.uint8)  # official label files are uint8
    np.savez_compressed(k49 / "k49-test-imgs.npz", kmnist_dev.images[:300])
    np.savez_compressed(k49 / "k49-test-labels.npz", labels)
    _register_local(monkeypatch, "k49", {"test": [k49 / "k49-test-imgs.npz", k49 / "k49-test-labels.npz"]}, "k49")
    d = fude.load_dataset("k49", "test", download=False)
    assert d.images.shape == (300, 28, 28) and np.array_equal(d.images, kmnist_dev.images[:300])
    assert d.labels.dtype == np.int64 and np.array_equal(d.labels, labels)
    assert len(d.class_map) == 49


def test_md5_mismatch_is_refused(isolated_data_dir):
    (isolated_data_dir / "kmnist").mkdir()
    bad = isolated_data_dir / "kmnist" / "kmnist-test-imgs.npz"
    np.savez(bad, np.zeros((2, 28, 28), np.uint8))
    actual = hashlib.md5(bad.read_bytes()).hexdigest()
    with pytest.raises(DatasetError) as e:
        fude.load_dataset("kmnist", "test", download=False)
    msg = str(e.value)
    assert "kmnist-test-imgs.npz" in msg and "dace6de62ca8b90843cc45366337d02e" in msg and actual in msg
    assert "not used" in msg


def test_missing_file_says_which_where_and_how(isolated_data_dir):
    with pytest.raises(DatasetError) as e:
        fude.load_dataset("k49", "train", download=False)
    msg = str(e.value)
    assert "k49-train-imgs.npz" in msg and str(isolated_data_dir / "k49") in msg
    assert "http://codh.rois.ac.jp/kmnist/dataset/k49/k49-train-imgs.npz" in msg and "FUDE_DATA_DIR" in msg


def test_failed_download_leaves_nothing_behind(isolated_data_dir, monkeypatch):
    def refuse(*a, **k):
        raise OSError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    with pytest.raises(DatasetError, match="download .* failed .*network is unreachable"):
        fude.load_dataset("mnist", "test")
    assert list((isolated_data_dir / "mnist").iterdir()) == []


def test_local_only_split_explains_mirror(isolated_data_dir):
    with pytest.raises(DatasetError, match="not published online.*FUDE_DATA_DIR"):
        fude.load_dataset("kmnist", "dev")


def test_unknown_dataset_and_split():
    with pytest.raises(DatasetError, match="unknown dataset 'emnist'.*mnist, kmnist, k49"):
        fude.load_dataset("emnist")
    with pytest.raises(DatasetError, match="no split 'dev'"):
        fude.load_dataset("mnist", "dev")


def test_packaged_sample_loads_offline(isolated_data_dir):
    tr = fude.load_dataset("kmnist-sample", "train", download=False)
    te = fude.load_dataset("kmnist-sample", "test", download=False)
    assert len(tr) == 1200 and len(te) == 300
    assert np.bincount(tr.labels).tolist() == [120] * 10


@pytest.mark.parametrize("gz", [True, False])
def test_idx_pair_raw_and_gzipped(tmp_path, mnist_test, gz):
    imgs, labs = tmp_path / "imgs.idx", tmp_path / "labs.idx"
    write_idx(imgs, mnist_test.images[:50], gz)
    write_idx(labs, mnist_test.labels[:50], gz)
    d = fude.load_pair(imgs, labs)
    assert np.array_equal(d.images, mnist_test.images[:50]) and np.array_equal(d.labels, mnist_test.labels[:50])
    assert d.class_map.chars == tuple("0123456789")


def test_npz_pair_with_classmap(tmp_path, kmnist_dev):
    np.savez(tmp_path / "x.npz", kmnist_dev.images[:20])
    np.savez(tmp_path / "y.npz", kmnist_dev.labels[:20].astype(np.uint8))
    d = fude.load_pair(tmp_path / "x.npz", tmp_path / "y.npz", REPO / "src/fude/resources/kmnist_classmap.csv")
    assert d.class_map.char(9) == "を" and np.array_equal(d.labels, kmnist_dev.labels[:20])


def test_kaggle_csv_with_and_without_labels(tmp_path, mnist_test):
    write_csv(tmp_path / "train.csv", mnist_test.images[:40], mnist_test.labels[:40])
    write_csv(tmp_path / "test.csv", mnist_test.images[40:60])
    d = fude.load_csv(tmp_path / "train.csv")
    assert np.array_equal(d.images, mnist_test.images[:40]) and np.array_equal(d.labels, mnist_test.labels[:40])
    u = fude.load_csv(tmp_path / "test.csv")
    assert u.labels is None and np.array_equal(u.images, mnist_test.images[40:60])


def test_kaggle_csv_bad_cells_name_row_and_column(tmp_path, mnist_test):
    path = tmp_path / "bad.csv"
    write_csv(path, mnist_test.images[:3], mnist_test.labels[:3])
    lines = path.read_text().splitlines()
    cells = lines[2].split(",")
    cells[5] = "x"  # row 2, column pixel4
    lines[2] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"row 2, column 'pixel4': 'x' is not an integer"):
        fude.load_csv(path)
    cells[5] = ""
    lines[2] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"row 2, column 'pixel4'"):
        fude.load_csv(path)
    cells[5] = "300"
    lines[2] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"row 2, column 'pixel4': value 300 is outside 0..255"):
        fude.load_csv(path)
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(DatasetError, match="Kaggle header"):
        fude.load_csv(path)


def test_image_folder(tmp_path, kmnist_dev):
    from PIL import Image

    cmap = kmnist_dev.class_map
    for c in (0, 1):
        name = cmap.char(c) if c == 0 else cmap.codepoint(c)  # a character or a U+ code point
        (tmp_path / name).mkdir()
        for i in np.flatnonzero(kmnist_dev.labels == c)[:5]:
            # dark ink on light paper at 4x the size, as a user's scans would be
            Image.fromarray(255 - kmnist_dev.images[i]).resize((112, 112)).save(tmp_path / name / f"{i}.png")
    d = fude.load_image_folder(tmp_path, box=28)
    assert d.class_map.chars == ("お", "き") and d.labels.tolist() == [0] * 5 + [1] * 5
    assert d.images.shape == (10, 28, 28) and d.images.dtype == np.uint8
    # bright ink on a black background after loading, like the datasets
    assert d.images[:, 0, :].mean() < 10 and d.images.max() > 200
    # images already in the dataset layout (28x28 grey, here dark on light) are taken as they are
    (tmp_path / "を").mkdir()
    i = int(np.flatnonzero(kmnist_dev.labels == 9)[0])
    Image.fromarray(255 - kmnist_dev.images[i]).save(tmp_path / "を" / "a.png")
    d = fude.load_image_folder(tmp_path)
    assert np.array_equal(d.images[-1], kmnist_dev.images[i]) and d.class_map.chars[-1] == "を"
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="holds no images"):
        fude.load_image_folder(tmp_path)


def test_bad_shapes_dtypes_and_labels(tmp_path):
    np.savez(tmp_path / "small.npz", np.zeros((4, 28, 27), np.uint8))
    np.savez(tmp_path / "float.npz", np.zeros((4, 28, 28), np.float32))
    np.savez(tmp_path / "labels.npz", np.array([0, 1, 2, 3]))
    np.savez(tmp_path / "labels3.npz", np.array([0, 1, 2]))
    np.savez(tmp_path / "good.npz", np.zeros((4, 28, 28), np.uint8))
    np.savez(tmp_path / "neg.npz", np.array([0, 1, -1, 2]))
    np.savez(tmp_path / "wrongkey.npz", images=np.zeros((4, 28, 28), np.uint8))
    with pytest.raises(DatasetError, match=r"square, shape \(N, S, S\).*\(4, 28, 27\)"):
        fude.load_pair(tmp_path / "small.npz", tmp_path / "labels.npz")
    with pytest.raises(DatasetError, match="uint8.*float32"):
        fude.load_pair(tmp_path / "float.npz", tmp_path / "labels.npz")
    with pytest.raises(DatasetError, match="4 images but 3 labels"):
        fude.load_pair(tmp_path / "good.npz", tmp_path / "labels3.npz")
    with pytest.raises(DatasetError, match=r"labels must lie in \[0, 9\].*\[-1, 2\]"):
        fude.load_pair(tmp_path / "good.npz", tmp_path / "neg.npz", ClassMap.digits())
    with pytest.raises(DatasetError, match="keys \\['images'\\].*'arr_0'"):
        fude.load_pair(tmp_path / "wrongkey.npz")
    with pytest.raises(DatasetError, match=r"labels must lie in \[0, 1\]"):
        fude.Dataset(np.zeros((4, 28, 28), np.uint8), np.array([0, 1, 2, 3]), ClassMap(("a", "b")))


def test_idx_bad_magic_and_length(tmp_path, mnist_test):
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"\x12\x34\x08\x03" + b"\x00" * 20)
    with pytest.raises(DatasetError, match="bad magic number 12340803"):
        datasets.read_idx(bad)
    short = tmp_path / "short.idx.gz"
    write_idx(short, mnist_test.images[:3])
    data = gzip.decompress(short.read_bytes())
    short.write_bytes(gzip.compress(data[:-10]))
    with pytest.raises(DatasetError, match=r"header says shape \(3, 28, 28\) \(2352 bytes of data\).*2342 bytes"):
        datasets.read_idx(short)


def test_kanjivg_and_tomoe_come_through_the_registry(mirror, isolated_data_dir):
    """KanjiVG and Tomoe are registered collections: found in the data directory by name, Tomoe's
    file md5-checked like every download; missing ones say where they looked and where to get them."""
    from fude.datasets import STROKE_SOURCES, DatasetError, stroke_source
    from fude.strokes import load_tomoe
    from fude.strokes.kanjivg import load_templates

    assert stroke_source("kanjivg", mirror) == mirror / "kanjivg" / "kanji"
    assert stroke_source("tomoe", mirror) == mirror / "tomoe" / "all.tdic"
    assert len(load_tomoe(mirror)) == 3048 and [t.variant for t in load_templates(chars="字", data_dir=mirror)["字"]] == ["", "Kaisho"]
    with pytest.raises(DatasetError, match="kanjivg/kanji not found.*github.com/KanjiVG"):
        stroke_source("kanjivg")  # the empty data directory of FUDE_DATA_DIR
    with pytest.raises(DatasetError, match="all.tdic not found.*downloads are off.*tomoe_data"):
        stroke_source("tomoe", download=False)
    (isolated_data_dir / "tomoe").mkdir()
    (isolated_data_dir / "tomoe" / "all.tdic").write_text("字\n:1\n1 (0 0) (10 10)\n")
    with pytest.raises(DatasetError, match="md5 mismatch"):
        load_tomoe()
    with pytest.raises(ValueError, match="unknown stroke collection 'etl'; known: kanjivg"):
        stroke_source("etl")
    assert set(STROKE_SOURCES) == {"kanjivg", "kanjivg-hiragana", "tomoe"}
