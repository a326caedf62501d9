"""The image front end, MAE and classification on real Fashion-MNIST slices."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from killed_run import assert_resume_is_exact
from PIL import Image

import train
from graphsep.config import load_config
from graphsep.core import CoreConfig
from graphsep.frontends.image.batch import ImageBatch
from graphsep.frontends.image.config import ImageConfig
from graphsep.frontends.image.frontend import image_encoder
from graphsep.frontends.image.patches import patchify, unpatchify
from graphsep.images.errors import ImageDataError
from graphsep.images.loaders import load_image_data
from graphsep.images.sources import load_split
from graphsep.tasks.mae.masking import PatchMaskSampler, random_masking
from graphsep.tasks.masked_graph.masking import mask_generator
from graphsep.training.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
FMNIST = REPO.parent / "shared" / "data" / "images" / "fashion-mnist"
needs_data = pytest.mark.skipif(not FMNIST.exists(), reason="needs ../shared/data")
TINY = ["model.core.dim=32", "model.core.depth=2", "model.core.num_heads=4", "progress=false",
        "task.mae.decoder_dim=32", "train.eval_batch_size=500"]  # fmt: skip


def small_encoder(norm: str = "sep"):
    torch.manual_seed(0)
    return image_encoder(CoreConfig(dim=32, depth=2, num_heads=4, norm=norm), ImageConfig())


@pytest.mark.parametrize(("channels", "height", "width", "patch"), [(1, 28, 28, 4), (3, 8, 12, 2)])
def test_patchify_and_unpatchify_are_exact_inverses(channels, height, width, patch):
    images = torch.randn(3, channels, height, width)
    patches = patchify(images, patch)
    assert patches.shape == (3, (height // patch) * (width // patch), patch * patch * channels)
    assert torch.equal(unpatchify(patches, patch, height, width), images)
    # patch 1 is the second patch of the top row, its pixels row-major, channels last
    expected = images[0, :, :patch, patch : 2 * patch].permute(1, 2, 0).reshape(-1)
    assert torch.equal(patches[0, 1], expected)
    with pytest.raises(ValueError, match="patch size 5 does not divide the"):
        patchify(images, 5)


def test_masking_keeps_the_share_asked_and_restore_puts_every_patch_back():
    visible, restore = random_masking(6, 49, 0.75, mask_generator(0, 1, 0))
    assert visible.shape == (6, 12)  # round(49 * 0.25)
    assert all(len(set(row.tolist())) == 12 for row in visible)
    masked = torch.ones(6, 49, dtype=torch.bool).scatter(1, visible, False)
    shuffled = torch.cat([visible, masked.nonzero()[:, 1].view(6, 37)], dim=1)
    # visible first then hidden, in the shuffled order; restore undoes the shuffle
    assert torch.equal(torch.sort(shuffled, dim=1).values, torch.arange(49).expand(6, -1))
    unshuffled = torch.gather(torch.argsort(restore, dim=1), 1, restore)
    assert torch.equal(unshuffled, torch.arange(49).expand(6, -1))
    again, _ = random_masking(6, 49, 0.75, mask_generator(0, 1, 0))
    other, _ = random_masking(6, 49, 0.75, mask_generator(0, 2, 0))
    assert torch.equal(visible, again) and not torch.equal(visible, other)


@pytest.mark.parametrize("norm", ["sep", "share"])
def test_the_encoder_never_sees_a_masked_patch(norm):
    encoder = small_encoder(norm).eval()
    pixels = torch.randn(4, 1, 28, 28)
    batch = PatchMaskSampler(0.75, 49, seed=0)(ImageBatch(pixels), epoch=1, batch_index=0)
    hidden = torch.ones(4, 49, dtype=torch.bool).scatter(1, batch.visible, False)
    patches = patchify(pixels, 4)
    changed = patches.clone()
    changed[hidden] = torch.randn(int(hidden.sum()), 16)  # new pixels in every hidden patch
    with torch.no_grad():
        before = encoder(batch).tokens[0]
        after = encoder(ImageBatch(unpatchify(changed, 4, 28, 28), visible=batch.visible,
                                   restore=batch.restore)).tokens[0]  # fmt: skip
        visible_changed = patches.clone()
        visible_changed[~hidden] += 1.0
        moved = encoder(ImageBatch(unpatchify(visible_changed, 4, 28, 28),
                                   visible=batch.visible)).tokens[0]  # fmt: skip
    assert before.shape == (4, 1 + 12, 32)  # [CLS] and the visible patches, never masked
    torch.testing.assert_close(before, after, rtol=0, atol=0)
    assert not torch.allclose(before, moved)


@needs_data
def test_mae_lowers_the_loss_then_finetuning_from_it_beats_chance(fmnist_slice, tmp_path):
    mae = ["--config", "configs/fmnist_mae_quick.yaml", *fmnist_slice, *TINY,
           "train.batch_size=64", "train.lr=2e-3"]  # fmt: skip
    assert train.main([*mae, f"out_dir={tmp_path / 'mae'}", "train.epochs=3"]) == 0
    assert train.main([*mae, f"out_dir={tmp_path / 'untrained'}", "train.epochs=1",
                       "train.lr=0"]) == 0  # fmt: skip
    trained, untrained = (
        json.loads((tmp_path / run / "results.json").read_text())["valid"]
        for run in ("mae", "untrained")
    )
    assert trained < 0.8 * untrained  # the held-out reconstruction improves (0.59 vs 0.82)
    assert load_checkpoint(tmp_path / "mae" / "best").meta["kind"] == "mae"

    tune = [*fmnist_slice, *TINY, "train.epochs=6", "train.batch_size=64", "train.lr=2e-3",
            f"model.init_from={tmp_path / 'mae' / 'best'}"]  # fmt: skip
    assert train.main(["--config", "configs/fmnist_finetune_quick.yaml", *tune,
                       f"out_dir={tmp_path / 'tuned'}"]) == 0  # fmt: skip
    tuned = json.loads((tmp_path / "tuned" / "results.json").read_text())
    assert tuned["test"] > 0.5  # ten balanced classes: chance is 0.10
    probe = [*tune, "task.classify.probe=true", f"out_dir={tmp_path / 'probe'}"]
    assert train.main(["--config", "configs/fmnist_finetune_quick.yaml", *probe]) == 0
    probed = load_checkpoint(tmp_path / "probe" / "best").state_dict
    pretrained = load_checkpoint(tmp_path / "mae" / "best").state_dict
    encoder = [k for k in probed if k.startswith("encoder.")]
    assert encoder and all(torch.equal(probed[k], pretrained[k]) for k in encoder)  # frozen


@needs_data
def test_a_killed_run_resumes_to_the_uninterrupted_result(fmnist_slice, tmp_path):
    args = ["--config", "configs/fmnist_finetune_quick.yaml", *fmnist_slice, *TINY,
            "train.epochs=2", "train.batch_size=64", "train.checkpoint_every=4",
            "data.images.crop_padding=2", "data.images.flip=true"]  # fmt: skip
    assert_resume_is_exact(args, tmp_path)


def _idx(path: Path, payload: bytes) -> Path:
    path.write_bytes(gzip.compress(payload))
    return path


def test_bad_image_data_is_named(tmp_path):
    header = bytes([0, 0, 8, 3]) + (2).to_bytes(4, "big") + (4).to_bytes(4, "big") * 2
    labels = _idx(tmp_path / "labels-idx1-ubyte.gz", bytes([0, 0, 8, 1, 0, 0, 0, 2, 0, 1]))
    cases = [
        (_idx(tmp_path / "short-idx3-ubyte.gz", header + bytes(20)), labels,
         "IDX header says (2, 4, 4) values (48 bytes), the file has 36"),
        (_idx(tmp_path / "float-idx3-ubyte.gz", bytes([0, 0, 0x0D, 1, 0, 0, 0, 1]) + bytes(4)),
         labels, "IDX element type 0x0d"),
        (_idx(tmp_path / "text-idx3-ubyte.gz", b"hello"), labels, "not an IDX file"),
        (tmp_path / "none-idx3-ubyte.gz", labels, "no such file"),
    ]  # fmt: skip
    for images, label_file, message in cases:
        with pytest.raises(ImageDataError, match=str(images.name)) as err:
            load_split(images, label_file)
        assert message in str(err.value)
    np.savez(tmp_path / "float.npz", images=np.zeros((2, 4, 4), np.float32), labels=[0, 1])
    with pytest.raises(ImageDataError, match="images must be uint8"):
        load_split(tmp_path / "float.npz")
    np.savez(tmp_path / "short.npz", images=np.zeros((2, 4, 4), np.uint8), labels=[0])
    with pytest.raises(ImageDataError, match=r"2 images but labels of shape \(1,\)"):
        load_split(tmp_path / "short.npz")
    (tmp_path / "folders" / "cat").mkdir(parents=True)
    (tmp_path / "folders" / "dog").mkdir()
    Image.new("L", (4, 4)).save(tmp_path / "folders" / "cat" / "a.png")
    with pytest.raises(ImageDataError, match="dog: a class folder with no PNG or JPEG images"):
        load_split(tmp_path / "folders")
    Image.new("L", (4, 4)).save(tmp_path / "folders" / "dog" / "b.png")
    (tmp_path / "folders" / "dog" / "c.png").write_bytes(b"not a png")
    with pytest.raises(ImageDataError, match="c.png: not a readable image"):
        load_split(tmp_path / "folders")
    (tmp_path / "folders" / "dog" / "c.png").unlink()
    split = load_split(tmp_path / "folders")
    assert split.images.shape == (2, 4, 4, 1) and split.classes == ["cat", "dog"]


def test_too_few_or_blank_training_images_are_named(tmp_path):
    def run_on(images):
        np.savez(tmp_path / "few.npz", images=images, labels=np.arange(len(images)) % 3)
        files = [f"data.images.{s}={tmp_path / 'few.npz'}" for s in ("train", "test")]
        load_image_data(load_config("configs/fmnist_finetune_quick.yaml", files))

    with pytest.raises(ImageDataError, match="of 3 training images leaves 3 to train and 0 to"):
        run_on(np.arange(3 * 784, dtype=np.uint8).reshape(3, 28, 28))
    with pytest.raises(ImageDataError, match="few.npz: every training pixel is 0; nothing to"):
        run_on(np.zeros((30, 28, 28), np.uint8))


@needs_data
def test_a_model_for_other_images_or_another_task_is_refused(fmnist_slice, tmp_path, capsys):
    base = ["--config", "configs/fmnist_finetune_quick.yaml", *fmnist_slice, *TINY,
            f"out_dir={tmp_path / 'run'}"]  # fmt: skip
    assert train.main([*base, "model.image.channels=3"]) == 2
    assert "28x28 images with 1 channel(s); the model reads 28x28 with 3" in capsys.readouterr().err
    assert train.main([*base, "model.image.patch_size=5"]) == 2
    assert "model.image.patch_size (5) must divide model.image.image_size (28)" in (
        capsys.readouterr().err
    )
    assert train.main([*base, "task.name=property"]) == 2
    assert "task.name=property needs model.frontend=graph, not image" in capsys.readouterr().err
    with pytest.raises(Exception, match="data.images.train"):
        load_config("configs/fmnist_finetune_quick.yaml", ["data.images.train=null"])


@pytest.fixture(scope="module")
def classifier(fmnist_slice, tmp_path_factory) -> Path:
    out_dir = tmp_path_factory.mktemp("classifier") / "run"
    args = ["--config", "configs/fmnist_finetune_quick.yaml", *fmnist_slice, *TINY,
            "train.epochs=2", "train.batch_size=64", f"out_dir={out_dir}"]  # fmt: skip
    assert train.main(args) == 0
    return out_dir


@needs_data
def test_predict_and_embed_images_from_a_checkpoint(classifier, fmnist_slice, tmp_path, capsys):
    from graphsep.cli.main import main as graphsep

    test_file = fmnist_slice[1].split("=", 1)[1]
    out = tmp_path / "scores.csv"
    assert graphsep(["predict", "--checkpoint", str(classifier / "best"), "--images", test_file,
                     "--output", str(out)]) == 0  # fmt: skip
    scores = pd.read_csv(out)
    probabilities = scores.filter(like="p_").to_numpy()
    assert len(scores) == 500 and probabilities.shape[1] == 10
    np.testing.assert_allclose(probabilities.sum(1), 1, atol=1e-5)
    assert (scores["predicted"] == probabilities.argmax(1)).all()
    labels = np.load(test_file)["labels"]
    best = json.loads((classifier / "results.json").read_text())
    assert (scores["predicted"] == labels).mean() == pytest.approx(best["test"], abs=1e-9)

    arrays = [tmp_path / "emb.npy", tmp_path / "emb.parquet"]
    for path in arrays:
        assert graphsep(["embed", "--checkpoint", str(classifier / "best"), "--images",
                         test_file, "--output", str(path)]) == 0  # fmt: skip
    vectors = np.load(arrays[0])
    assert vectors.shape == (500, 32) and vectors.dtype == np.float32
    np.testing.assert_array_equal(pd.read_parquet(arrays[1]).filter(like="cls_").to_numpy(),
                                  vectors)  # fmt: skip

    capsys.readouterr()
    graph_checkpoint = REPO / "tests" / "fixtures" / "checkpoint_v1"
    assert graphsep(["predict", "--checkpoint", str(graph_checkpoint), "--images",
                     test_file]) == 2  # fmt: skip
    assert "a 'property' checkpoint of the graph front end; --images needs an image model" in (
        capsys.readouterr().err
    )
    assert graphsep(["predict", "--checkpoint", str(classifier / "best"), "--smiles", "CCO"]) == 2
    assert "a 'classify' checkpoint of the image front end; scoring SMILES needs" in (
        capsys.readouterr().err
    )
    rgb = tmp_path / "rgb.npy"
    np.save(rgb, np.zeros((2, 28, 28, 3), np.uint8))
    assert graphsep(["predict", "--checkpoint", str(classifier / "best"), "--images",
                     str(rgb)]) == 2  # fmt: skip
    assert "28x28 images with 3 channel(s); the checkpoint's model reads 28x28 with 1" in (
        capsys.readouterr().err
    )
