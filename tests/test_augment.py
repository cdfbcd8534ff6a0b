"""DiffAugment: each transform against values computed by hand, then the random policy's ranges,
gradients, per-image independence and seeding."""

import pytest
import torch

from ganforge.augment import (BRIGHTNESS, POLICIES, DiffAugment, brightness, contrast, cutout, saturation,
                              translate)
from ganforge.errors import ConfigError


def images(n=4, c=3, size=32, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, c, size, size, generator=g) * 2 - 1).to(dtype)


def seeded(policy="color,translation,cutout", seed=0):
    return DiffAugment(policy, generator=torch.Generator().manual_seed(seed))


# ---- the transforms, by hand ----

def test_translate_known_tensor():
    x = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # [[1 2 3] [4 5 6] [7 8 9]]
    # one right, one up: out[y, x] = in[y + 1, x - 1]
    assert torch.equal(translate(x, 1, -1), torch.tensor([[[[0.0, 4, 5], [0, 7, 8], [0, 0, 0]]]]))
    assert torch.equal(translate(x, -2, 0, fill=-1.0), torch.tensor([[[[3.0, -1, -1], [6, -1, -1], [9, -1, -1]]]]))
    assert torch.equal(translate(x, 0, 0), x)
    assert torch.equal(translate(x, 3, 0), torch.zeros_like(x))  # pushed entirely out


def test_translate_moves_each_image_by_its_own_shift():
    x = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3).repeat(2, 2, 1, 1)
    out = translate(x, torch.tensor([1, 0]), torch.tensor([-1, 1]))
    assert torch.equal(out[0], translate(x[:1], 1, -1)[0])
    assert torch.equal(out[1, 1], torch.tensor([[0.0, 0, 0], [1, 2, 3], [4, 5, 6]]))  # all channels alike


def test_cutout_known_squares():
    x = torch.ones(1, 1, 4, 4)
    expected = torch.ones(1, 1, 4, 4)
    expected[..., 1:3, 0:2] = 0  # even side 2 around the corner (x=1, y=2): rows 1-2, columns 0-1
    assert torch.equal(cutout(x, cx=1, cy=2, size=2), expected)
    clipped = torch.ones(1, 1, 4, 4)
    clipped[..., 0:2, 0:2] = -1  # odd side 3 centred on pixel (0, 0): rows/columns -1..1, clipped to 0..1
    assert torch.equal(cutout(x, cx=0, cy=0, size=3, fill=-1.0), clipped)
    assert torch.equal(cutout(x, cx=9, cy=9, size=2), x)  # entirely outside


def test_brightness_contrast_saturation_by_hand():
    x = torch.tensor([[[[0.5, -0.25], [0.75, -1.0]]]])
    assert torch.equal(brightness(x, 0.25), torch.tensor([[[[0.75, 0.0], [1.0, -0.75]]]]))
    y = torch.tensor([[[[-1.0, 0.0], [0.5, 0.5]]]])  # mean 0
    assert torch.equal(contrast(y, 1.5), torch.tensor([[[[-1.5, 0.0], [0.75, 0.75]]]]))
    z = y + 0.5  # mean 0.5: (v - 0.5) * 0.5 + 0.5
    assert torch.equal(contrast(z, 0.5), torch.tensor([[[[0.0, 0.5], [0.75, 0.75]]]]))
    # pixel channel means: (1, 0, -1) -> 0, (0.5, 0.5, 0.5) -> 0.5, (1, 1, -0.5) -> 0.5, (-1, 0, 0.25) -> -0.25
    rgb = torch.tensor([[[1.0, 0.5], [1, -1]], [[0, 0.5], [1, 0]], [[-1, 0.5], [-0.5, 0.25]]])
    out = saturation(torch.stack([rgb, rgb]), torch.tensor([0.5, 2.0]))
    assert torch.equal(out[0], torch.tensor([[[0.5, 0.5], [0.75, -0.625]], [[0, 0.5], [0.75, -0.125]],
                                             [[-0.5, 0.5], [0, 0]]]))
    assert torch.equal(out[1], torch.tensor([[[2.0, 0.5], [1.5, -1.75]], [[0, 0.5], [1.5, 0.25]],
                                             [[-2, 0.5], [-1.5, 0.75]]]))
    assert torch.equal(saturation(rgb[None], 0.0), rgb.mean(0, keepdim=True).expand(3, 2, 2)[None])


# ---- the random policy ----

@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [28, 32, 64])
def test_shapes_and_dtype_kept(channels, size):
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        x = images(3, channels, size, dtype=dtype)
        out = seeded()(x)
        assert out.shape == x.shape and out.dtype == dtype and not torch.equal(out, x)


def test_translation_and_cutout_only_move_or_fill_pixels():
    x = images(8, 3, 28)
    for policy in ("translation", "cutout", "translation,cutout"):
        out = seeded(policy)(x)
        assert torch.isin(out, torch.cat([x.flatten(), torch.zeros(1)])).all(), policy
        assert out.min() >= min(x.min(), 0) and out.max() <= max(x.max(), 0)
    out = seeded("cutout")(x)
    kept = out == x
    assert ((out == 0) | kept).all() and (~kept).any()
    # each image loses at most a 14x14 square and at least its clipped corner quarter (7x7)
    lost = (~kept).all(1).sum((1, 2))
    assert ((lost >= 49) & (lost <= 196)).all(), lost


def test_draws_cover_the_documented_ranges():
    x = torch.zeros(4000, 3, 28, 28)
    draws = dict(seeded().sample(x))
    shift, sat, con = draws["brightness"]["shift"], draws["saturation"]["factor"], draws["contrast"]["factor"]
    assert -0.5 <= shift.min() < -0.495 and 0.495 < shift.max() < 0.5  # [-0.25, 0.25] on the [0, 1] scale
    assert 2 * BRIGHTNESS == 0.5  # the paper's U(-0.5, 0.5) in [-1, 1] units
    assert 0 <= sat.min() < 0.01 and 1.99 < sat.max() < 2
    assert 0.5 <= con.min() < 0.51 and 1.49 < con.max() < 1.5
    for d in (draws["translate"]["dx"], draws["translate"]["dy"]):
        assert set(d.tolist()) == set(range(-3, 4))  # 28 // 8
    assert draws["cutout"]["size"] == (14, 14)
    assert set(draws["cutout"]["cx"].tolist()) == set(range(29))  # even side: centres on corners 0..28
    odd = dict(seeded("cutout").sample(torch.zeros(2000, 1, 30, 30)))["cutout"]
    assert odd["size"] == (15, 15) and set(odd["cy"].tolist()) == set(range(30))
    assert [name for name, _ in seeded().sample(torch.zeros(2, 1, 8, 8))] == \
        ["brightness", "contrast", "translate", "cutout"]  # no saturation for one channel


def test_color_moves_mean_by_brightness_and_std_by_contrast():
    x = images(6, 1, 32)
    aug = seeded("color", seed=3)
    draws = aug.sample(x)
    out = aug.apply(x, draws)
    shift, factor = draws[0][1]["shift"], draws[1][1]["factor"]
    # contrast keeps each image's mean; one channel has no saturation
    torch.testing.assert_close(out.mean((1, 2, 3)) - x.mean((1, 2, 3)), shift)
    torch.testing.assert_close(out.std((1, 2, 3)) / x.std((1, 2, 3)), factor)
    rgb = images(6, 3, 32)
    draws = aug.sample(rgb)
    spread = lambda t: (t - t.mean(1, keepdim=True)).abs().mean((1, 2, 3))  # noqa: E731
    after = aug.apply(rgb, draws[:2])  # brightness and saturation
    torch.testing.assert_close(spread(after) / spread(rgb), draws[1][1]["factor"])


def test_gradients_flow():
    x = images(4, 3, 32).requires_grad_()
    seeded()(x).sum().backward()
    assert x.grad.shape == x.shape and x.grad.abs().sum() > 0


def test_translation_gradient_is_the_indicator_of_surviving_pixels():
    x = images(16, 2, 16).requires_grad_()
    aug = seeded("translation", seed=5)
    draws = aug.sample(x)
    aug.apply(x, draws).sum().backward()
    dx, dy = draws[0][1]["dx"], draws[0][1]["dy"]
    assert dx.abs().sum() > 0 and dy.abs().sum() > 0
    ys = torch.arange(16)[None, :] + dy[:, None]  # where each source row lands
    xs = torch.arange(16)[None, :] + dx[:, None]
    survived = ((ys >= 0) & (ys < 16))[:, None, :, None] & ((xs >= 0) & (xs < 16))[:, None, None, :]
    assert torch.equal(x.grad, survived.expand(x.shape).float())


def test_each_image_gets_its_own_draws():
    x = images(1, 3, 32).expand(16, -1, -1, -1)
    out = seeded()(x)
    flat = out.flatten(1)
    assert (torch.cdist(flat, flat) + torch.eye(16) * 1e9).min() > 0  # no two alike
    draws = dict(seeded().sample(x))
    assert len(set(draws["brightness"]["shift"].tolist())) == 16


def test_seeding_repeats_and_leaves_the_global_stream_alone():
    x = images(8, 3, 32)
    before = torch.get_rng_state()
    first = seeded(seed=1)(x)
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(first, seeded(seed=1)(x))
    assert not torch.equal(first, seeded(seed=2)(x))
    aug = seeded(seed=1)
    assert not torch.equal(aug(x), aug(x))  # the generator moves on between batches


def test_without_a_generator_the_global_stream_is_used():
    x, aug = images(8, 3, 32), DiffAugment()
    torch.manual_seed(11)
    seeded_state = torch.get_rng_state()
    first = aug(x)
    state = torch.get_rng_state()
    assert not torch.equal(state, seeded_state)  # draws were taken from it
    torch.manual_seed(11)
    assert torch.equal(aug(x), first)
    assert torch.equal(torch.get_rng_state(), state)  # the same draws were taken again


def test_empty_policy_is_the_identity_and_unknown_names_fail_in_one_line():
    x = images()
    assert DiffAugment("")(x) is x
    assert DiffAugment(" color , cutout ").policy == ("color", "cutout")
    with pytest.raises(ConfigError) as err:
        DiffAugment("color,flip")
    message = str(err.value)
    assert "\n" not in message and "'flip'" in message and all(name in message for name in POLICIES)
    assert POLICIES == ("color", "translation", "cutout")
