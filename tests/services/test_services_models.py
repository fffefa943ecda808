"""Model ids without loading the model: remembered per model directory fingerprint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docsum.config import Settings
from docsum.errors import DocsumError, ModelNotFound
from docsum.services import models as model_cache
from docsum.services.models import fingerprint, get_summarizer, resolve_model


def test_model_ids_are_remembered_by_fingerprint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(model_cache, "MODEL_ID_CACHE", tmp_path / "model-ids.json")
    settings = Settings(device="cpu", model=None)
    ref = resolve_model(settings)
    assert json.loads((tmp_path / "model-ids.json").read_text()) == {fingerprint(ref.path): ref.model_id}
    assert ref.model_id == get_summarizer(settings, ref.path).model_id
    assert resolve_model(settings) == ref


def test_fingerprint_changes_when_a_model_file_changes(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    before = fingerprint(str(tmp_path))
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    assert fingerprint(str(tmp_path)) != before


def test_a_missing_model_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="model directory not found"):
        resolve_model(Settings(), str(tmp_path / "nope"))


@pytest.mark.parametrize("where", ["nope", "empty"])
def test_a_mistyped_docsum_model_is_a_setting_error(tmp_path: Path, where: str) -> None:
    """DOCSUM_MODEL naming nothing, or a folder with no model in it: the public ModelNotFound (a DocsumError, exit 5
    in the CLI), never a bare FileNotFoundError from deep in the loader."""
    (tmp_path / "empty").mkdir()
    settings = Settings(model=str(tmp_path / where))
    with pytest.raises(ModelNotFound, match=f"no model at DOCSUM_MODEL={tmp_path / where}"):
        resolve_model(settings)
    with pytest.raises(DocsumError):
        settings.require_model_path()
