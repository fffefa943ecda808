"""save_pretrained / from_pretrained: same weights, same model_id, same scores; loading never uses the network."""

from __future__ import annotations

import copy
import socket

import pytest
import torch
from bertsum_helpers import make_doc

from docsum.bertsum.model import ExtSummarizer, bundled_encoder_dir

DOCS = [make_doc(25, topic="budget"), make_doc(3, words=20), ["Nothing here.", *make_doc(2)]]


def test_round_trip_keeps_weights_id_config_and_scores(tmp_path, small_model):
    model = small_model(seed=3, attn_bias=True, long_mode="windows", max_pos=128)
    with torch.no_grad():
        for layer in model.ext_layer.transformer_inter:
            layer.self_attn.rel_bias.normal_()
    model.config.trained = True
    model.save_pretrained(tmp_path / "m")
    loaded = ExtSummarizer.from_pretrained(tmp_path / "m", device="cpu")
    assert loaded.model_id == model.model_id
    assert loaded.config.attn_bias and loaded.config.max_pos == 128 and loaded.config.trained
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert loaded.score(DOCS) == model.score(DOCS)
    assert loaded.summarize(DOCS) == model.summarize(DOCS)


def test_fp16_save_loads_the_rounded_weights(tmp_path, small_model):
    model = small_model(seed=8)
    model.save_pretrained(tmp_path / "half", dtype=torch.float16)
    loaded = ExtSummarizer.from_pretrained(tmp_path / "half", device="cpu")
    rounded = copy.deepcopy(model)
    with torch.no_grad():
        for tensor in rounded.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(tensor.half().float())
    rounded._model_id = None
    assert loaded.model_id == rounded.model_id != model.model_id  # the id names the weights actually used
    assert loaded.score(DOCS) == rounded.score(DOCS)
    for a, b in zip(loaded.score(DOCS), model.score(DOCS)):
        torch.testing.assert_close(torch.tensor(a), torch.tensor(b), atol=2e-2, rtol=0)
    assert (tmp_path / "half" / "model.safetensors").stat().st_size < 0.6 * _saved_size(tmp_path / "full", model)


def _saved_size(path, model) -> int:
    model.save_pretrained(path)
    return (path / "model.safetensors").stat().st_size


def test_a_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing config\.json"):
        ExtSummarizer.from_pretrained(tmp_path / "nowhere", device="cpu")


def test_loading_never_touches_the_network(tmp_path, small_model, monkeypatch):
    small_model().save_pretrained(tmp_path / "m")
    attempts: list[object] = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access during model loading")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    loaded = ExtSummarizer.from_pretrained(tmp_path / "m", device="cpu")
    with pytest.warns(UserWarning, match="untrained"):
        bundled = ExtSummarizer.from_pretrained(bundled_encoder_dir(), device="cpu")
    assert attempts == []
    assert len(loaded.score([make_doc(3)])[0]) == 3
    assert bundled.bert.model.config.hidden_size == 384
