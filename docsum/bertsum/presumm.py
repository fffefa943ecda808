"""Convert a released PreSumm (or older BertSum) extractive checkpoint into a docsum model directory.

A PreSumm checkpoint is a torch pickle `{'model': state_dict, 'opt': argparse.Namespace, 'optim': Optimizer}`.
It is read WITHOUT arbitrary unpickling: a restricted unpickler resolves only tensor-rebuild functions,
OrderedDict/defaultdict and argparse.Namespace; PreSumm's optimizer classes (`models.*`, `torch.optim.*`) become an
inert placeholder (the 'optim' entry is skipped); any other class is refused before anything runs.

Key mapping (PreSumm's names are ours, since our module attributes follow them):

| checkpoint key                               | ours                                   |
|----------------------------------------------|----------------------------------------|
| `bert.model.*`                               | `bert.model.*` (same)                  |
| `ext_layer.*`                                | `ext_layer.*` (same)                   |
| `encoder.*` (older nlpyang/BertSum)          | `ext_layer.*`                          |
| `*.LayerNorm.gamma` / `*.LayerNorm.beta`     | `*.LayerNorm.weight` / `*.LayerNorm.bias` |
| `bert.model.pooler.*`, `*position_ids`       | dropped (unused / rebuilt)             |

PreSumm does not store `max_pos`, but its checkpoints are saved after the position table was resized: more than
512 rows in `bert.model.embeddings.position_embeddings.weight` means the model was trained with that many
positions. Hyperparameters come from `opt` when present (PreSumm `ext_*`, BertSum `inter_layers/heads/ff_size`),
layer count and feed-forward size are checked against the weights. The result uses PreSumm's own preprocessing
(`long_mode='truncate'`); the encoder config and tokenizer come from a local bert-base-uncased-like directory.
"""

from __future__ import annotations

import argparse
import collections
import pickle
import re
import types
from pathlib import Path
from typing import Any, BinaryIO

import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer

from docsum.bertsum.config import BertSumConfig
from docsum.bertsum.model import ExtSummarizer, encoder_config_dict

POSITION_KEY = "bert.model.embeddings.position_embeddings.weight"

_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("collections", "defaultdict"): collections.defaultdict,  # torch optimizer state
    ("builtins", "dict"): dict,  # its default factory
    ("argparse", "Namespace"): argparse.Namespace,
    ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): torch._utils._rebuild_parameter_with_state,
    ("torch", "Size"): torch.Size,
}
# PreSumm's optimizer wrapper (models.optimizers.Optimizer) and the torch optimizer inside it: never needed.
_SKIPPED_MODULES = ("models.", "torch.optim")


class SkippedObject:
    """Stands in for an optimizer object in the checkpoint; its state is discarded."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        module = {"__builtin__": "builtins"}.get(module, module)  # protocol-2 pickles use Python 2 names
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module.startswith(_SKIPPED_MODULES):
            return SkippedObject
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name}: a PreSumm checkpoint holds only tensors, dicts, an argparse "
            "Namespace and an optimizer"
        )


def _restricted_load(file: BinaryIO, **kwargs: Any) -> Any:
    return RestrictedUnpickler(file, **kwargs).load()


# What torch.load needs of a pickle module: Unpickler (subclassed by torch) and load (legacy format headers).
_restricted_pickle = types.SimpleNamespace(
    __name__="bertsum.presumm", Unpickler=RestrictedUnpickler, load=_restricted_load
)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's dict, loaded on the CPU with the restricted unpickler (zip and legacy torch formats)."""
    try:
        # weights_only=False only because an explicit (here: stricter) pickle module excludes it.
        data = torch.load(str(path), map_location="cpu", pickle_module=_restricted_pickle, weights_only=False)
    except pickle.UnpicklingError as exc:
        raise ValueError(f"{path}: not a loadable PreSumm checkpoint: {exc}") from exc
    if isinstance(data, dict) and "model" in data:
        return data
    if isinstance(data, dict) and any(k.startswith(("bert.", "ext_layer.", "encoder.")) for k in data):
        return {"model": data, "opt": None}  # a bare state dict
    raise ValueError(f"{path}: expected a dict with a 'model' state dict (PreSumm format)")


def map_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """PreSumm/BertSum key names -> ours (table in the module docstring)."""
    mapped = {}
    for key, tensor in state.items():
        if key.startswith("bert.model.pooler.") or key.endswith("position_ids"):
            continue
        if key.startswith("encoder."):
            key = "ext_layer." + key[len("encoder.") :]
        key = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", key)
        key = re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", key)
        mapped[key] = tensor
    return mapped


def _opt(opt: Any, *names: str, default: Any = None) -> Any:
    for name in names:
        if opt is not None and getattr(opt, name, None) is not None:
            return getattr(opt, name)
    return default


def convert(
    checkpoint: str | Path, encoder_dir: str | Path, max_pos: int | None = None, name: str | None = None
) -> ExtSummarizer:
    """A PreSumm ext checkpoint -> ExtSummarizer (on the CPU, eval mode). Save it with `save_pretrained`."""
    checkpoint, encoder_dir = Path(checkpoint), Path(encoder_dir)
    data = load_checkpoint(checkpoint)
    state = map_state_dict(data["model"])
    opt = data.get("opt")
    if POSITION_KEY not in state:
        raise ValueError(f"{checkpoint}: no {POSITION_KEY} (not a BertSum/PreSumm extractive checkpoint)")
    layer_ids = {int(m.group(1)) for k in state if (m := re.match(r"ext_layer\.transformer_inter\.(\d+)\.", k))}
    if not layer_ids or "ext_layer.wo.weight" not in state:
        raise ValueError(f"{checkpoint}: no transformer ext_layer (only PreSumm's 'transformer' encoder is supported)")

    encoder_config = AutoConfig.from_pretrained(str(encoder_dir), local_files_only=True)
    position_rows, hidden = state[POSITION_KEY].shape
    if hidden != encoder_config.hidden_size:
        raise ValueError(f"checkpoint hidden size {hidden} != {encoder_dir} hidden size {encoder_config.hidden_size}")
    if max_pos is None:
        max_pos = _opt(opt, "max_pos", default=position_rows)
    if max_pos > position_rows:
        raise ValueError(f"max_pos {max_pos} exceeds the checkpoint's {position_rows} trained positions")
    encoder_config.max_position_embeddings = position_rows
    encoder_config._attn_implementation = "sdpa"

    config = BertSumConfig(
        name=name or f"presumm-{checkpoint.stem}",
        max_pos=max_pos,
        long_mode="truncate",
        ext_layers=max(layer_ids) + 1,
        ext_heads=_opt(opt, "ext_heads", "heads", default=8),
        ext_ff_size=state["ext_layer.transformer_inter.0.feed_forward.w_1.weight"].shape[0],
        ext_dropout=_opt(opt, "ext_dropout", "dropout", default=0.1),
        use_interval=bool(_opt(opt, "use_interval", default=True)),
        trained=True,
    )
    for opt_names, value in (
        (("ext_layers", "inter_layers"), config.ext_layers),
        (("ext_ff_size", "ff_size"), config.ext_ff_size),
    ):
        stated = _opt(opt, *opt_names)
        if stated is not None and stated != value:
            raise ValueError(f"{checkpoint}: opt.{opt_names[0]}={stated} but the weights have {value}")

    encoder = AutoModel.from_config(encoder_config, add_pooling_layer=False)
    tokenizer = AutoTokenizer.from_pretrained(str(encoder_dir), local_files_only=True, use_fast=True)
    model = ExtSummarizer(config, encoder, tokenizer)
    own = model.state_dict()
    if "ext_layer.pos_emb.pe" not in state:  # a fixed sinusoid: ours is the same table
        state["ext_layer.pos_emb.pe"] = own["ext_layer.pos_emb.pe"]
    missing = [k for k in own if k not in state and not k.endswith("position_ids")]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise ValueError(f"{checkpoint}: keys do not match (missing {missing[:5]}, unexpected {unexpected[:5]})")
    mismatched = [k for k in state if state[k].shape != own[k].shape]
    if mismatched:
        k = mismatched[0]
        raise ValueError(f"{checkpoint}: {k} has shape {tuple(state[k].shape)}, expected {tuple(own[k].shape)}")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=False)
    config.encoder_config = encoder_config_dict(encoder)
    return model.eval()
