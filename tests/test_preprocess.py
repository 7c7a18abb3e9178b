"""Image files -> dataset-style 28x28 images, checked against the dataset images they were made from."""

import io

import numpy as np
import pytest
from PIL import Image

from fude.datasets.preprocess import ImageError, ink_box, load_image, to_dataset_image
from fude.datasets.stats import ink_sides


def _as_file(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def variants(image28: np.ndarray, rng: np.random.Generator) -> dict[str, bytes]:
    """The same character as a user's files would hold it."""
    dark_on_light = Image.fromarray(255 - image28)
    big = dark_on_light.resize((280, 280), Image.BICUBIC)
    canvas = Image.new("L", (900, 600), 235)  # off-white paper, ink far off-centre
    canvas.paste(big, (int(rng.integers(0, 600)), int(rng.integers(0, 300))))
    rgb = Image.merge("RGB", [canvas, canvas.point(lambda v: v * 0.9), canvas.point(lambda v: v * 0.8)])
    shaded = np.asarray(canvas, np.float32) * np.linspace(0.75, 1.0, 900)[None, :]  # uneven lighting
    rgba = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    rgba.putalpha(Image.fromarray(image28).resize((280, 280), Image.BICUBIC))  # ink only, transparent paper
    return {
        "light-on-dark": _as_file(Image.fromarray(image28).resize((112, 112), Image.BICUBIC)),
        "dark-on-light-offcentre": _as_file(canvas),
        "jpeg-rgb": _as_file(rgb, "JPEG", quality=60),
        "shaded-photo": _as_file(Image.fromarray(shaded.astype(np.uint8)), "JPEG", quality=75),
        "transparent-png": _as_file(rgba),
        "huge": _as_file(Image.fromarray(255 - image28).resize((3000, 3000), Image.BICUBIC)),
    }


def _similar(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two images after a small blur, at the best whole-pixel shift within 2 px:
    re-centring may move thin strokes by a pixel, which plain pixel correlation punishes."""
    from scipy.ndimage import gaussian_filter

    a, b = gaussian_filter(a.astype(float), 1), gaussian_filter(b.astype(float), 1)
    return max(float(np.corrcoef(np.roll(a, (dy, dx), (0, 1)).ravel(), b.ravel())[0, 1])
               for dy in range(-2, 3) for dx in range(-2, 3))


def test_ink_box_is_the_median_of_per_image_bounding_boxes(mnist_test):
    import torch

    images = mnist_test.images[:501].copy()
    images[0] = 0  # no ink: counts as the full side
    images[1] = 0
    images[1, 3, 5] = images[1, 9, 6] = 255  # ink at rows 3..9, columns 5..6: longer side 7
    sides = []
    for img in images:
        ys, xs = np.nonzero(img > 64)
        sides.append(max(np.ptp(ys) + 1, np.ptp(xs) + 1) if len(ys) else 28)
    assert sides[:2] == [28, 7]
    assert ink_sides(images).tolist() == sides
    assert ink_box(images) == int(np.median(sides)) == ink_box(torch.from_numpy(images))
    assert ink_box(images[1:2]) == 7 and ink_box(images[:1]) == 28


@pytest.mark.parametrize("which", ["mnist", "kmnist"])
def test_variants_come_back_like_the_dataset(which, mnist_test, kmnist_dev):
    data = mnist_test if which == "mnist" else kmnist_dev
    box = ink_box(data.images[:2000])
    assert box == (20 if which == "mnist" else 28)  # MNIST's 20x20 box; Kuzushiji fills the frame
    rng = np.random.default_rng(0)
    for i in range(0, 40, 4):
        original = data.images[i]
        for name, blob in variants(original, rng).items():
            out = to_dataset_image(load_image(blob), box=box)
            assert out.shape == (28, 28) and out.dtype == np.uint8
            assert _similar(out, original) > 0.85, f"{which} image {i}, {name}"


@pytest.mark.slow
def test_predict_on_variants_with_shipped_models(mnist_test, kmnist_dev):
    import fude

    for name, data in (("mnist", mnist_test), ("kmnist", kmnist_dev)):
        rec = fude.load_model(name)
        rng = np.random.default_rng(1)
        images, labels = [], []
        for i in range(0, 200, 10):
            for blob in variants(data.images[i], rng).values():
                images.append(to_dataset_image(load_image(blob), box=rec.box))
                labels.append(data.labels[i])
        acc = (rec.predict_proba(np.stack(images)).argmax(1) == np.array(labels)).mean()
        assert acc >= 0.95, f"{name}: {acc:.3f} of {len(labels)} generated files read right"


def test_bad_files(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image at all")
    good = _as_file(Image.new("L", (64, 64), 255))
    (tmp_path / "truncated.png").write_bytes(_as_file(Image.effect_noise((256, 256), 64))[:300])
    with pytest.raises(ImageError, match="empty"):
        load_image(tmp_path / "empty.png")
    with pytest.raises(ImageError, match="not an image"):
        load_image(tmp_path / "text.png")
    with pytest.raises(ImageError, match="corrupt or truncated"):
        load_image(tmp_path / "truncated.png")
    with pytest.raises(ImageError, match="cannot read"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="no ink"):
        to_dataset_image(load_image(good))


def test_decompression_bomb_is_refused(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ImageError, match="too large"):
        load_image(_as_file(Image.new("L", (100, 100), 255)))


def test_numpy_image_filters_give_scipys_answers(kmnist_dev):
    """Reading images needs no SciPy (the core install leaves it out): fude's NumPy maximum filter,
    Gaussian blur and 4-connected labelling give scipy.ndimage's answers, on real ink and noise."""
    from scipy import ndimage

    from fude.datasets.preprocess import gaussian_filter, label, maximum_filter

    rng = np.random.default_rng(0)
    pictures = [kmnist_dev.images[i].astype(np.float32) / 255 for i in range(0, 400, 40)]
    pictures += [rng.random((64, 48), dtype=np.float32), rng.random((5, 70), dtype=np.float32)]
    for a in pictures:
        assert np.array_equal(maximum_filter(a, 9), ndimage.maximum_filter(a, size=9, mode="nearest"))
        assert np.allclose(gaussian_filter(a, 2), ndimage.gaussian_filter(a, sigma=2), atol=1e-6)
        for cut in (0.05, 0.5, 0.9):
            ours, n = label(a > cut)
            theirs, m = ndimage.label(a > cut)
            assert n == m and np.array_equal(ours, theirs)
    snake = np.zeros((41, 60), bool)  # one long winding region: the worst case for label propagation
    snake[::2] = True
    for r in range(1, 41, 2):
        snake[r, -1 if r % 4 == 1 else 0] = True
    ours, n = label(snake)
    theirs, m = ndimage.label(snake)
    assert n == m == 1 and np.array_equal(ours, theirs)


def test_image_reading_imports_no_scipy():
    import subprocess
    import sys

    code = ("import io, sys\nimport numpy as np\nfrom PIL import Image\n"
            "from fude.datasets.preprocess import load_image, to_dataset_image\n"
            "a = np.full((90, 120), 230, np.uint8); a[20:70, 50:58] = 20; a[40:46, 30:90] = 20\n"
            "buf = io.BytesIO(); Image.fromarray(a).save(buf, 'PNG')\n"
            "x = to_dataset_image(load_image(buf.getvalue()))\n"
            "from fude.strokes import sequence_features\n"
            "sequence_features([np.array([[0, 0], [5, 9], [10, 3], [12, 12.0]])], 64)\n"
            "assert x.max() == 255 and 'scipy' not in sys.modules, sorted(m for m in sys.modules if 'scipy' in m)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
