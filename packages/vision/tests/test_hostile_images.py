"""Image files that lie about their size, are too large, or are damaged: refused with a typed
error before their pixels are decoded, and large JPEGs decoded at reduced scale."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from torchgraft.core.cli import main
from torchgraft.vision import transforms as T
from torchgraft.vision.transforms import ImageClassification, ObjectDetection


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A tiny real PNG whose IHDR (with a valid CRC) claims ``width`` x ``height``."""
    Image.new("RGB", (8, 8), (200, 30, 30)).save(path)
    data = bytearray(path.read_bytes())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(("width", "height"), [(20000, 20000), (12000, 10000), (200_000, 600)])
def test_a_header_claiming_too_many_pixels_is_refused_before_decoding(tmp_path, width, height):
    path = png_claiming(tmp_path / "bomb.png", width, height)
    with pytest.raises(ValueError, match=r"expected (an image of )?at most 100,000,000"):
        ImageClassification(crop_size=224)(path)
    with pytest.raises(ValueError, match="at most"):
        ObjectDetection()(path)


def test_classify_refuses_a_bomb_in_one_line_without_a_traceback(tmp_path, photos, capsys):
    bomb = png_claiming(tmp_path / "bomb.png", 20000, 20000)
    assert main(["classify", str(photos["cat"]), str(bomb)]) == 1
    err = capsys.readouterr().err
    assert "bomb.png" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_classify_checks_every_file_before_it_downloads_weights(capsys, monkeypatch):
    monkeypatch.setenv("TORCHGRAFT_OFFLINE", "1")  # a download attempt would fail with an offline error
    assert main(["classify", "/no/such.jpg", "--model", "resnet50"]) == 1
    err = capsys.readouterr().err
    assert "no image file at /no/such.jpg" in err and "offline" not in err.lower()


def test_the_bound_is_a_setting_and_a_within_bound_image_decodes(tmp_path, monkeypatch, photos):
    monkeypatch.setattr(T, "MAX_IMAGE_PIXELS", 100 * 100)
    with pytest.raises(ValueError, match=r"claims 135,300 pixels \(refused before decoding\); expected at most 10,000"):
        ImageClassification(crop_size=224)(photos["cat"])
    monkeypatch.setattr(T, "MAX_IMAGE_PIXELS", 451 * 300)
    assert ImageClassification(crop_size=224)(photos["cat"]).shape == (3, 224, 224)


def big_jpeg(path: Path, photo: Path, size: tuple[int, int]) -> Path:
    with Image.open(photo) as image:
        image.convert("RGB").resize(size, Image.Resampling.BILINEAR).save(path, quality=90)
    return path


def test_a_large_jpeg_decodes_at_reduced_scale_and_classifies_the_same(tmp_path, photos):
    path = big_jpeg(tmp_path / "large.jpg", photos["astronaut"], (6000, 5000))
    decoded = T._decode(path, 256)
    assert decoded.size == (750, 625)  # 1/8 scale: the shorter side stays >= 2 x 256
    full = ImageClassification(crop_size=224)
    with Image.open(path) as image:  # what the preset gives from a full-size decode
        reference = full(image.convert("RGB"))
    ours = full(path)
    assert ours.shape == reference.shape == (3, 224, 224)
    assert (ours - reference).abs().mean() < 0.02


@pytest.mark.parametrize("suffix", [".png", ".webp"])
def test_a_large_image_in_a_format_without_reduced_decoding_is_shrunk_at_once(tmp_path, photos, suffix):
    """PNG and WebP decode at full size only: the decoded image is box-filtered to a shorter side
    of 2 x 256 before it becomes a tensor, and gives what the full image gives."""
    path = tmp_path / f"large{suffix}"
    with Image.open(photos["astronaut"]) as image:
        image.convert("RGB").resize((6000, 5000), Image.Resampling.BILINEAR).save(path)
    decoded = T._decode(path, 256)
    assert decoded.size == (615, 512)
    full = ImageClassification(crop_size=224)
    with Image.open(path) as image:
        reference = full(image.convert("RGB"))
    assert (full(path) - reference).abs().mean() < 0.02
    assert T._decode(path, None).size == (6000, 5000)  # detection keeps every pixel


def test_ordinary_photos_decode_exactly_as_pillow_does(photos):
    for name in ("flower", "cat"):
        with Image.open(photos[name]) as image:
            expected = torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)
        assert torch.equal(T._to_rgb_uint8(photos[name], 256), expected)


@pytest.mark.parametrize("cut", [0.0, 0.1, 0.5])
def test_truncated_files_raise_a_value_error_that_names_them(tmp_path, photos, cut):
    data = photos["flower"].read_bytes()
    path = tmp_path / "broken.jpg"
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(ValueError, match="broken.jpg is not an image Pillow can decode"):
        ImageClassification(crop_size=224)(path)


def ico_embedding(path: Path, png: Path) -> Path:
    """An ICO whose one entry is the PNG file ``png`` (ICO and CUR decode their frame as they open)."""
    data = png.read_bytes()
    header = struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(data), 22)
    path.write_bytes(header + data)
    return path


@pytest.mark.parametrize(("width", "height"), [(12000, 10000), (10001, 10000)])
def test_an_ico_whose_frame_claims_too_many_pixels_is_refused_before_it_is_decoded(tmp_path, width, height):
    """The frame's PNG has a few bytes of pixel data: decoding it would fail as truncated, so the
    message shows the bound came first."""
    ico = ico_embedding(tmp_path / "bomb.ico", png_claiming(tmp_path / "frame.png", width, height))
    with pytest.raises(
        ValueError, match=rf"claims {width * height:,} pixels \(refused before decoding\); expected at most 100,000,000"
    ):
        ImageClassification(crop_size=224)(ico)


def test_pillows_warnings_do_not_reach_the_users_stderr(tmp_path):
    import warnings

    path = tmp_path / "palette.png"
    image = Image.new("P", (16, 16))
    image.putpalette([i % 256 for i in range(768)])
    image.save(path, transparency=bytes(range(16)))  # a palette with byte transparency: Pillow warns on convert
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ImageClassification(crop_size=8)(path).shape == (3, 8, 8)
