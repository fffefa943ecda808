"""PreSumm compatibility: a synthetic checkpoint with PreSumm's exact key names and shapes converts, loads safely
(no arbitrary unpickling) and scores exactly like the model it was made from."""

from __future__ import annotations

import argparse
import json
import os
import sys
import types
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from bertsum_helpers import HIDDEN, build_small, make_doc, small_encoder_config
from typer.testing import CliRunner

from docsum.bertsum.model import ExtSummarizer
from docsum.bertsum.presumm import convert, load_checkpoint

# Key names and shapes of the released bertext_cnndm_transformer.pt, for hidden size H.
PRESUMM_KEYS = {
    "bert.model.embeddings.word_embeddings.weight": None,
    "bert.model.embeddings.position_embeddings.weight": (512, HIDDEN),
    "bert.model.embeddings.token_type_embeddings.weight": (2, HIDDEN),
    "bert.model.embeddings.LayerNorm.weight": (HIDDEN,),
    "bert.model.encoder.layer.0.attention.self.query.weight": (HIDDEN, HIDDEN),
    "bert.model.encoder.layer.1.output.LayerNorm.bias": (HIDDEN,),
    "ext_layer.pos_emb.pe": (1, 5000, HIDDEN),
    "ext_layer.transformer_inter.0.self_attn.linear_keys.weight": (HIDDEN, HIDDEN),
    "ext_layer.transformer_inter.0.self_attn.linear_values.bias": (HIDDEN,),
    "ext_layer.transformer_inter.1.self_attn.linear_query.weight": (HIDDEN, HIDDEN),
    "ext_layer.transformer_inter.1.self_attn.final_linear.weight": (HIDDEN, HIDDEN),
    "ext_layer.transformer_inter.0.feed_forward.w_1.weight": (64, HIDDEN),
    "ext_layer.transformer_inter.0.feed_forward.w_2.weight": (HIDDEN, 64),
    "ext_layer.transformer_inter.1.feed_forward.layer_norm.weight": (HIDDEN,),
    "ext_layer.transformer_inter.1.layer_norm.bias": (HIDDEN,),
    "ext_layer.layer_norm.weight": (HIDDEN,),
    "ext_layer.wo.weight": (1, HIDDEN),
    "ext_layer.wo.bias": (1,),
}
OPT = dict(ext_layers=2, ext_heads=4, ext_ff_size=64, ext_dropout=0.2, max_pos=512, use_interval=True, task="ext")
DOCS = [make_doc(30, topic="harbour"), make_doc(4), ["Too short.", *make_doc(3, words=20)]]


@pytest.fixture
def encoder_dir(tmp_path: Path, tokenizer) -> Path:
    """A local bert-base-uncased-like directory: config + tokenizer, no weights (as `--encoder` expects)."""
    path = tmp_path / "encoder"
    small_encoder_config(tokenizer).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _presumm_state(model: ExtSummarizer) -> OrderedDict:
    """Our state dict plus what PreSumm's also holds: pooler weights and (older transformers) position_ids."""
    state = OrderedDict(model.state_dict())
    state["bert.model.pooler.dense.weight"] = torch.randn(HIDDEN, HIDDEN)
    state["bert.model.pooler.dense.bias"] = torch.randn(HIDDEN)
    state["bert.model.embeddings.position_ids"] = torch.arange(model.config.max_pos)[None]
    return state


def _save(path: Path, state: dict, opt: argparse.Namespace | None, optim=None, legacy: bool = False) -> Path:
    torch.save({"model": state, "opt": opt, "optim": optim}, path, _use_new_zipfile_serialization=not legacy)
    return path


def test_our_keys_are_presumm_keys(tokenizer):
    state = _presumm_state(build_small(tokenizer, long_mode="truncate"))
    for key, shape in PRESUMM_KEYS.items():
        assert key in state, key
        if shape is not None:
            assert tuple(state[key].shape) == shape, key


@pytest.mark.parametrize("legacy", [False, True], ids=["zip-format", "legacy-format"])
def test_converted_checkpoint_scores_exactly_like_the_original(tmp_path, tokenizer, encoder_dir, legacy):
    original = build_small(tokenizer, seed=4, long_mode="truncate", ext_dropout=0.2)
    ckpt = _save(tmp_path / "bertext_test.pt", _presumm_state(original), argparse.Namespace(**OPT), legacy=legacy)
    converted = convert(ckpt, encoder_dir)
    assert converted.config.long_mode == "truncate" and converted.config.trained
    assert (converted.config.ext_layers, converted.config.ext_heads, converted.config.ext_ff_size) == (2, 4, 64)
    assert converted.config.ext_dropout == 0.2 and converted.config.max_pos == 512
    assert converted.config.name == "presumm-bertext_test"
    assert converted.score(DOCS) == original.score(DOCS)

    out = tmp_path / "converted"
    converted.save_pretrained(out)
    loaded = ExtSummarizer.from_pretrained(out, device="cpu")
    assert loaded.model_id == converted.model_id
    assert loaded.score(DOCS) == original.score(DOCS)


def test_positions_beyond_512_set_max_pos(tmp_path, tokenizer, encoder_dir):
    original = build_small(tokenizer, max_position_embeddings=640, long_mode="truncate")
    opt = argparse.Namespace(**{**OPT, "max_pos": None})  # PreSumm does not always say; the table does
    ckpt = _save(tmp_path / "long.pt", _presumm_state(original), opt)
    converted = convert(ckpt, encoder_dir)
    assert converted.config.max_pos == 640
    assert converted.bert.model.config.max_position_embeddings == 640
    long_doc = [make_doc(60, words=14)]
    assert converted.score(long_doc) == original.score(long_doc)
    assert sum(s > 0 for s in converted.score(long_doc)[0]) > sum(
        s > 0 for s in build_small(tokenizer, long_mode="truncate").score(long_doc)[0]
    )
    assert convert(ckpt, encoder_dir, max_pos=600).config.max_pos == 600
    with pytest.raises(ValueError, match="exceeds the checkpoint's 640 trained positions"):
        convert(ckpt, encoder_dir, max_pos=700)


def test_old_bertsum_names_convert(tmp_path, tokenizer, encoder_dir):
    original = build_small(tokenizer, seed=5, long_mode="truncate")
    state = OrderedDict()
    for key, value in _presumm_state(original).items():
        key = key.replace("ext_layer.", "encoder.", 1) if key.startswith("ext_layer.") else key
        key = key.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        state[key] = value
    opt = argparse.Namespace(inter_layers=2, heads=4, ff_size=64, dropout=0.1, encoder="transformer")
    converted = convert(_save(tmp_path / "bertsum.pt", state, opt), encoder_dir)
    assert converted.score(DOCS) == original.score(DOCS)


def test_optimizer_state_is_skipped_without_running_its_code(tmp_path, tokenizer, encoder_dir, monkeypatch):
    """PreSumm pickles its `models.optimizers.Optimizer` wrapper around a torch Adam with state: both are skipped."""
    package, module = types.ModuleType("models"), types.ModuleType("models.optimizers")

    class Optimizer:
        def __init__(self, params):
            self.method = "adam"
            self.optimizer = torch.optim.Adam(params, lr=2e-3)

        def __setstate__(self, state):  # would run on a plain torch.load
            raise AssertionError("PreSumm's optimizer code must not run")

    Optimizer.__module__, Optimizer.__qualname__ = "models.optimizers", "Optimizer"
    module.Optimizer, package.optimizers = Optimizer, module
    monkeypatch.setitem(sys.modules, "models", package)
    monkeypatch.setitem(sys.modules, "models.optimizers", module)
    original = build_small(tokenizer, long_mode="truncate")
    optim = Optimizer(original.parameters())
    loss = original.ext_layer.wo.weight.sum()
    loss.backward()
    optim.optimizer.step()  # Adam state: tensors in the checkpoint
    ckpt = _save(tmp_path / "with_optim.pt", _presumm_state(original), argparse.Namespace(**OPT), optim=optim)
    monkeypatch.delitem(sys.modules, "models.optimizers")
    monkeypatch.delitem(sys.modules, "models")
    assert convert(ckpt, encoder_dir).score(DOCS) == original.score(DOCS)


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path, tokenizer, encoder_dir):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    state = _presumm_state(build_small(tokenizer, long_mode="truncate"))
    ckpt = _save(tmp_path / "evil.pt", state, argparse.Namespace(**OPT), optim=Exploit())
    with pytest.raises(ValueError, match="refusing to load"):
        load_checkpoint(ckpt)
    assert not marker.exists()


def test_not_a_presumm_checkpoint(tmp_path, tokenizer, encoder_dir):
    torch.save({"model": {"classifier.weight": torch.zeros(2, 2)}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="position_embeddings"):
        convert(tmp_path / "other.pt", encoder_dir)
    state = _presumm_state(build_small(tokenizer))
    state = OrderedDict((k, v) for k, v in state.items() if not k.startswith("ext_layer."))
    with pytest.raises(ValueError, match="no transformer ext_layer"):
        convert(_save(tmp_path / "abs.pt", state, None), encoder_dir)


def test_cli_convert_and_info(tmp_path, tokenizer, encoder_dir):
    from docsum.cli import app

    original = build_small(tokenizer, seed=6, long_mode="truncate")
    ckpt = _save(tmp_path / "cli.pt", _presumm_state(original), argparse.Namespace(**OPT))
    out = tmp_path / "model"
    runner = CliRunner()
    result = runner.invoke(
        app, ["model", "convert-presumm", str(ckpt), "--encoder", str(encoder_dir), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    loaded = ExtSummarizer.from_pretrained(out, device="cpu")
    assert loaded.model_id in result.output
    assert loaded.score(DOCS) == original.score(DOCS)

    result = runner.invoke(app, ["model", "info", str(out)])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["model_id"] == loaded.model_id
    assert info["config"]["long_mode"] == "truncate" and info["config"]["trained"] is True
    assert info["config"]["encoder_config"]["hidden_size"] == HIDDEN

    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    result = runner.invoke(
        app,
        [
            "model",
            "convert-presumm",
            str(tmp_path / "junk.pt"),
            "--encoder",
            str(encoder_dir),
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert result.exit_code == 1
    assert "error:" in result.output
    assert not (tmp_path / "x").exists()
