"""The text front end, its tokenizer, MLM and classification on real IMDB slices."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from killed_run import assert_resume_is_exact

import train
from graphsep.config import load_config
from graphsep.core import CoreConfig
from graphsep.frontends.text.collate import TextCollator
from graphsep.frontends.text.config import TextConfig
from graphsep.frontends.text.frontend import text_encoder
from graphsep.molecules.table import DataError
from graphsep.tasks.masked_graph.masking import mask_generator
from graphsep.tasks.mlm.config import MlmConfig
from graphsep.tasks.mlm.masking import IGNORED, corrupt
from graphsep.text.loaders import load_text_data
from graphsep.text.table import read_labelled_texts
from graphsep.text.tokenizer import (
    CLS_ID,
    MASK_ID,
    SEP_ID,
    SPECIAL_TOKENS,
    TokenizerError,
    tokenizer_from_json,
    train_tokenizer,
)
from graphsep.training.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
IMDB = REPO.parent / "shared" / "data" / "text" / "imdb_train.csv.gz"
needs_data = pytest.mark.skipif(not IMDB.exists(), reason="needs ../shared/data")
TINY = ["model.core.dim=32", "model.core.depth=1", "model.core.num_heads=4", "progress=false",
        "model.text.vocab_size=2000", "model.text.max_length=128",
        "train.batch_size=32"]  # fmt: skip


@pytest.fixture(scope="module")
def tokenizer():
    if not IMDB.exists():
        pytest.skip("needs ../shared/data")
    texts = pd.read_csv(IMDB, nrows=500)["text"].tolist()
    return train_tokenizer(texts, 1000)


def test_the_tokenizer_frames_texts_and_reloads_to_the_same_ids(tokenizer):
    text = "This film was <b>not</b> great, but I liked the ending!"
    encoding = tokenizer.encode(text)
    assert encoding.ids[0] == CLS_ID and encoding.ids[-1] == SEP_ID
    assert [tokenizer.token_to_id(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert tokenizer.decode(encoding.ids).replace(" ", "") == text.lower().replace(" ", "")
    again = tokenizer_from_json(tokenizer.to_str(), "memory")
    assert again.encode(text).ids == encoding.ids
    shuffled = json.loads(tokenizer.to_str())
    vocab = shuffled["model"]["vocab"]
    vocab["[PAD]"], vocab["[MASK]"] = vocab["[MASK]"], vocab["[PAD]"]
    with pytest.raises(TokenizerError, match="special tokens .* must have ids 0-4"):
        tokenizer_from_json(json.dumps(shuffled), "bad.json")


def test_mlm_selects_15_percent_of_ordinary_tokens_and_splits_them_80_10_10(tokenizer):
    texts = pd.read_csv(IMDB, nrows=300)["text"].tolist()
    ids = [e.ids for e in tokenizer.encode_batch(texts)]
    chunk = TextCollator(1)([(i, 0) for i in ids]).chunks[0]
    out = corrupt(chunk, MlmConfig(), 1000, mask_generator(0, 1, 0))
    selected = out.targets != IGNORED
    special = chunk.ids < len(SPECIAL_TOKENS)
    assert not (selected & (special | ~chunk.mask)).any()  # never [CLS], [SEP] or padding
    ordinary = chunk.mask & ~special
    assert int(ordinary.sum()) > 50_000
    assert abs(selected.sum() / ordinary.sum() - 0.15) < 0.005
    assert torch.equal(out.targets[selected], chunk.ids[selected])
    masked = (out.ids == MASK_ID) & selected
    kept = (out.ids == chunk.ids) & selected
    n = int(selected.sum())
    assert abs(masked.sum() / n - 0.8) < 0.01
    assert abs(kept.sum() / n - 0.1 - 0.1 / 1000) < 0.01  # a random draw may hit the same id
    assert torch.equal(out.ids[~selected], chunk.ids[~selected])


@pytest.mark.parametrize("norm", ["sep", "share"])
def test_padding_never_changes_the_cls_output(tokenizer, norm):
    torch.manual_seed(0)
    encoder = text_encoder(CoreConfig(dim=32, depth=2, num_heads=4, norm=norm),
                           TextConfig(vocab_size=1000)).eval()  # fmt: skip
    short, long = (tokenizer.encode(t).ids for t in ("a fine film", "a long review " * 30))
    with torch.no_grad():
        alone = encoder(TextCollator(1)([(short, 0)])).cls
        padded = encoder(TextCollator(1)([(short, 0), (long, 1)])).cls[:1]
    torch.testing.assert_close(alone, padded, atol=1e-5, rtol=1e-5)


@needs_data
def test_mlm_lowers_the_loss_then_finetuning_beats_chance(imdb_slice, tmp_path):
    mlm = ["--config", "configs/imdb_mlm_quick.yaml", *imdb_slice, *TINY, "train.lr=2e-3"]
    assert train.main([*mlm, f"out_dir={tmp_path / 'mlm'}", "train.epochs=2"]) == 0
    assert train.main([*mlm, f"out_dir={tmp_path / 'untrained'}", "train.epochs=1",
                       "train.lr=0"]) == 0  # fmt: skip
    trained, untrained = (
        json.loads((tmp_path / run / "results.json").read_text())["valid"]
        for run in ("mlm", "untrained")
    )
    assert trained < 0.9 * untrained
    best = tmp_path / "mlm" / "best"
    saved = tokenizer_from_json((best / "tokenizer.json").read_text(), "checkpoint")
    assert saved.get_vocab_size() <= 2000 and load_checkpoint(best).meta["kind"] == "mlm"

    # an empty tokenizer cache: training one there would give other ids (WordPiece training
    # is not deterministic), so the finetuned encoder must read its checkpoint's tokenizer
    fresh_cache = tmp_path / "fresh_cache"
    tune = ["--config", "configs/imdb_finetune_quick.yaml", *imdb_slice, *TINY,
            "train.epochs=4", "train.lr=2e-3", f"model.init_from={best}",
            f"data.text.cache_dir={fresh_cache}"]  # fmt: skip
    assert train.main([*tune, f"out_dir={tmp_path / 'tuned'}"]) == 0
    assert not list(fresh_cache.glob("tokenizer-*.json"))  # none trained
    tuned = json.loads((tmp_path / "tuned" / "results.json").read_text())
    assert tuned["test"] > 0.6  # two balanced classes: chance is 0.5
    meta = load_checkpoint(tmp_path / "tuned" / "best").meta
    assert meta["classes"] == ["0", "1"]
    assert (tmp_path / "tuned" / "best" / "tokenizer.json").read_text() == (
        best / "tokenizer.json"
    ).read_text()


@needs_data
def test_a_killed_text_run_resumes_to_the_uninterrupted_result(imdb_slice, tmp_path):
    args = ["--config", "configs/imdb_finetune_quick.yaml", *imdb_slice, *TINY,
            "train.epochs=2", "train.checkpoint_every=4"]  # fmt: skip
    assert_resume_is_exact(args, tmp_path)


def test_a_bad_table_is_named(tmp_path):
    table = tmp_path / "reviews.csv"
    table.write_text("review,stars\ngood film,pos\n   ,neg\nbad film,neg\n")
    texts = read_labelled_texts(table, "review", "stars")
    assert texts.texts == ["good film", "bad film"] and texts.empty == 1
    assert texts.classes == ["neg", "pos"] and texts.labels.tolist() == [1, 0]
    with pytest.raises(DataError, match="no text column 'text'; columns present: 'review'"):
        read_labelled_texts(table, "text", "stars")
    table.write_text("text,label\ngood,1\nbad,\n")
    with pytest.raises(DataError, match="row 3 of .*reviews.csv, column 'label': no label"):
        read_labelled_texts(table, "text", "label")
    table.write_text("text,label\ngood,1\nbad,1\n")
    with pytest.raises(DataError, match="holds one class"):
        read_labelled_texts(table, "text", "label")
    latin = tmp_path / "latin.csv.gz"
    latin.write_bytes(gzip.compress("text,label\ncaf\xe9,1\nok,0\n".encode("latin-1")))
    with pytest.raises(DataError, match="row 2 of .*latin.csv.gz, column 'text': byte 0xe9"):
        read_labelled_texts(latin, "text", "label")
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("text,label\na,10\nb,2\nc,1\n")
    assert read_labelled_texts(numbers, "text", "label").classes == ["1", "2", "10"]
    assert np.array_equal(read_labelled_texts(numbers, "text", "label").labels, [2, 1, 0])
    cfg = load_config("configs/imdb_finetune_quick.yaml",
                      [f"data.text.path={numbers}", f"data.text.cache_dir={tmp_path}"])  # fmt: skip
    with pytest.raises(DataError, match="3 rows leave the valid and test splits empty"):
        load_text_data(cfg)


@needs_data
def test_predict_and_embed_texts_from_a_checkpoint(imdb_slice, tmp_path, capsys):
    from graphsep.cli.main import main as graphsep

    run = tmp_path / "run"
    assert train.main(["--config", "configs/imdb_finetune_quick.yaml", *imdb_slice, *TINY,
                       "train.epochs=1", "train.max_steps=10", f"out_dir={run}"]) == 0  # fmt: skip
    best = run / "best"
    reviews = tmp_path / "reviews.csv"
    pd.DataFrame({"id": [7, 8, 9], "text": ["A wonderful, moving film.", "  ", "Dull."]}).to_csv(
        reviews, index=False
    )
    out = tmp_path / "scores.csv"
    capsys.readouterr()
    assert graphsep(["predict", "--checkpoint", str(best), "--texts", str(reviews),
                     "--output", str(out)]) == 0  # fmt: skip
    assert "row 3 of" in capsys.readouterr().err
    scores = pd.read_csv(out, keep_default_na=False)
    assert scores["id"].tolist() == [7, 8, 9]  # every row kept, in order
    assert scores["error"].tolist() == ["", "empty text", ""]
    assert [c for c in scores.columns if c.startswith("p_")] == ["p_0", "p_1"]
    np.testing.assert_allclose(scores.loc[[0, 2], ["p_0", "p_1"]].to_numpy(float).sum(1), 1,
                               atol=1e-5)  # fmt: skip
    assert graphsep(["embed", "--checkpoint", str(best), "--texts", str(reviews),
                     "--output", str(tmp_path / "emb.npy")]) == 0  # fmt: skip
    vectors = np.load(tmp_path / "emb.npy")
    assert vectors.shape == (3, 32) and np.isnan(vectors[1]).all() and np.isfinite(vectors[0]).all()
    capsys.readouterr()
    graph = REPO / "tests" / "fixtures" / "checkpoint_v1"
    assert graphsep(["predict", "--checkpoint", str(graph), "--texts", str(reviews)]) == 2
    assert "of the graph front end; --texts needs a text model" in capsys.readouterr().err
    assert graphsep(["predict", "--checkpoint", str(best), "--smiles", "CCO"]) == 2
    assert "of the text front end; scoring SMILES needs" in capsys.readouterr().err
    (best / "tokenizer.json").unlink()
    assert graphsep(["predict", "--checkpoint", str(best), "--texts", str(reviews)]) == 2
    assert "tokenizer.json: missing" in capsys.readouterr().err


@needs_data
def test_the_split_is_drawn_once_saved_and_read_back(imdb_slice, tmp_path):
    overrides = [*imdb_slice, *TINY, f"data.text.cache_dir={tmp_path}"]
    data = load_text_data(load_config("configs/imdb_finetune_quick.yaml", overrides))
    (split_file,) = tmp_path.glob("split-*.json")
    rows = json.loads(split_file.read_text())
    assert sorted(rows["train"] + rows["valid"] + rows["test"]) == list(range(2000))
    assert data.fingerprint["split_sizes"] == {"train": 1600, "valid": 200, "test": 200}
    # another run seed: the same split and tokenizer
    again = load_text_data(load_config("configs/imdb_finetune_quick.yaml", [*overrides, "seed=7"]))
    assert again.fingerprint == data.fingerprint
    # the saved rows are what a run reads: one review moved from valid to test shows
    rows["test"].append(rows["valid"].pop())
    split_file.write_text(json.dumps(rows))
    moved = load_text_data(load_config("configs/imdb_finetune_quick.yaml", overrides))
    assert moved.fingerprint["split_sizes"] == {"train": 1600, "valid": 199, "test": 201}
