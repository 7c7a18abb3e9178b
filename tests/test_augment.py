import numpy as np
import torch

from fude.datasets.augment import AugmentConfig, augment, random_affine, random_erase


def test_off_is_identity(kmnist_dev):
    x = torch.from_numpy(kmnist_dev.images[:16])[:, None].float() / 255
    assert torch.equal(augment(x, AugmentConfig.off(), torch.Generator().manual_seed(0)), x)


def test_affine_zero_strength_reproduces_input(kmnist_dev):
    x = torch.from_numpy(kmnist_dev.images[:16])[:, None].float() / 255
    cfg = AugmentConfig(rotate=0, scale=0, shift=0, shear=0)
    assert torch.allclose(random_affine(x, cfg, torch.Generator().manual_seed(0)), x, atol=1e-5)


def test_affine_matches_independent_rotation():
    # a single bright pixel right of centre, rotated by the angle the generator draws, lands
    # where plain trigonometry says
    x = torch.zeros(1, 1, 29, 29)
    x[0, 0, 14, 24] = 1.0  # 10 px right of the centre pixel (14, 14)

    cfg = AugmentConfig(rotate=90, scale=0, shift=0, shear=0)
    g = torch.Generator().manual_seed(0)
    # find the drawn angle from the same generator state, then compare with an explicit rotation
    angle = (torch.rand(1, generator=torch.Generator().manual_seed(0)) * 2 - 1) * np.pi / 2
    y = random_affine(x, cfg, g)
    yy, xx = np.unravel_index(int(y.argmax()), (29, 29))
    # output pixel p maps to input R(angle) p: the point moves by -angle in image coordinates
    a = -float(angle)
    ey, ex = 14 + 10 * np.sin(a), 14 + 10 * np.cos(a)
    assert abs(yy - ey) <= 1 and abs(xx - ex) <= 1


def test_erase_blanks_bounded_rectangles():
    x = torch.ones(200, 1, 28, 28)
    cfg = AugmentConfig(rotate=0, scale=0, shift=0, shear=0, erase=0.5, erase_side=0.4)
    y = random_erase(x, cfg, torch.Generator().manual_seed(0))
    erased = (y == 0).sum(dim=(1, 2, 3))
    hit = erased > 0
    assert 60 < hit.sum() < 140  # about half the images
    assert erased.max() <= round(0.4 * 28) ** 2
    # each erased region is a rectangle: its pixel count equals its bounding-box area
    for img in y[hit][:20, 0]:
        rows, cols = torch.nonzero(img == 0, as_tuple=True)
        assert len(rows) == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)


def test_same_seed_same_batch():
    x = torch.rand(8, 1, 28, 28)
    a = augment(x, AugmentConfig(), torch.Generator().manual_seed(3))
    b = augment(x, AugmentConfig(), torch.Generator().manual_seed(3))
    c = augment(x, AugmentConfig(), torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_elastic_field_matches_scipy_gaussian_filter():
    """Simard's elastic field against an independent computation: the same uniform noise smoothed
    by scipy.ndimage.gaussian_filter (zero padding, truncated at 3 sigma), in grid units."""
    from scipy.ndimage import gaussian_filter

    from fude.datasets.augment import elastic_field

    cfg = AugmentConfig(elastic=34.0, elastic_sigma=4.0)
    field = elastic_field(3, 28, 30, cfg, torch.Generator().manual_seed(7), "cpu")
    noise = (torch.rand(3, 2, 28, 30, generator=torch.Generator().manual_seed(7)) * 2 - 1).numpy()
    smooth = np.stack([[gaussian_filter(noise[b, c], 4.0, mode="constant", truncate=3.0) for c in range(2)]
                       for b in range(3)])
    expected = np.moveaxis(smooth, 1, -1) * 34.0 * np.array([2 / 30, 2 / 28])
    assert field.shape == (3, 28, 30, 2) and np.allclose(field.numpy(), expected, atol=1e-5)
    pixels = field.numpy() * np.array([15, 14])
    assert 0.9 < pixels.std() < 1.6  # Simard's alpha 34, sigma 4: about a pixel and a quarter


def test_elastic_distortion_moves_ink_a_little(kmnist_dev):
    x = torch.from_numpy(kmnist_dev.images[:64])[:, None].float() / 255
    cfg = AugmentConfig.off()
    cfg.elastic = 34.0
    y = augment(x, cfg, torch.Generator().manual_seed(0))
    assert not torch.allclose(y, x, atol=0.05)  # every batch is distorted...
    assert (y.sum((1, 2, 3)) / x.sum((1, 2, 3)) - 1).abs().median() < 0.1  # ...but keeps its ink

    def centroid(img: torch.Tensor) -> torch.Tensor:
        w = img[:, 0] / img[:, 0].sum((1, 2), keepdim=True)
        r = torch.arange(28.0)
        return torch.stack([(w.sum(2) * r).sum(1), (w.sum(1) * r).sum(1)], 1)
    assert (centroid(y) - centroid(x)).norm(dim=1).mean() < 1.5  # in place, give or take a pixel (alpha 150: 3.2)
    assert torch.equal(y, augment(x, cfg, torch.Generator().manual_seed(0)))  # seeded
