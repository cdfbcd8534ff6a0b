"""Sample grids: ganforge tiles them itself (no torchvision import in a training process) exactly as
torchvision's make_grid lays them out."""

import pytest
import torch
from torchvision.utils import make_grid

from ganforge.viz import grid_image, tile


@pytest.mark.parametrize("shape, nrow", [((7, 3, 5, 6), 3), ((10, 1, 4, 4), 4), ((2, 3, 8, 8), 5)])
def test_tile_is_make_grids_layout(shape, nrow):
    images = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    ours, theirs = tile(images, nrow), make_grid(images, nrow=nrow, padding=2, pad_value=1.0)
    if shape[1] == 1:
        theirs = theirs[:1]  # make_grid repeats a single channel three times
    assert torch.equal(ours, theirs)


def test_grid_image_maps_minus_one_to_black_and_one_to_white():
    images = torch.stack([torch.full((1, 4, 4), -1.0), torch.full((1, 4, 4), 1.0)])
    image = grid_image(images, nrow=2, min_side=0)
    assert image.mode == "L" and image.size == (2 * 6 + 2, 8)
    assert image.getpixel((3, 3)) == 0 and image.getpixel((9, 3)) == 255 and image.getpixel((0, 0)) == 255
