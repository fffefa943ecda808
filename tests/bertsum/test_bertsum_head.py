"""The inter-sentence head against PreSumm's formula, re-derived here from the paper and PreSumm's code (not from our
model code), and the optional relative attention bias E."""

from __future__ import annotations

import math

import torch

from docsum.bertsum.config import BertSumConfig
from docsum.bertsum.model import ExtTransformerEncoder, MultiHeadedAttention


def _layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor:
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def _sinusoid(n: int, dim: int) -> torch.Tensor:
    pe = torch.zeros(n, dim)
    for pos in range(n):
        for i in range(0, dim, 2):
            angle = pos / (10000 ** (i / dim))
            pe[pos, i] = math.sin(angle)
            pe[pos, i + 1] = math.cos(angle)
    return pe


def presumm_scores(
    sd: dict[str, torch.Tensor], sents: torch.Tensor, mask: torch.Tensor, layers: int, heads: int
) -> torch.Tensor:
    """sigmoid(wo(LN(x))) * mask after `layers` pre-LN layers (the first without input norm), from the checkpoint
    keys."""
    B, S, H = sents.shape
    d = H // heads
    lin = lambda x, name: x @ sd[name + ".weight"].T + sd[name + ".bias"]  # noqa: E731
    x = sents * mask[:, :, None].float() + _sinusoid(S, H)[None]
    for i in range(layers):
        p = f"ext_layer.transformer_inter.{i}."
        h = x if i == 0 else _layer_norm(x, sd[p + "layer_norm.weight"], sd[p + "layer_norm.bias"], 1e-6)
        q = lin(h, p + "self_attn.linear_query").view(B, S, heads, d).transpose(1, 2) / math.sqrt(d)
        k = lin(h, p + "self_attn.linear_keys").view(B, S, heads, d).transpose(1, 2)
        v = lin(h, p + "self_attn.linear_values").view(B, S, heads, d).transpose(1, 2)
        logits = (q @ k.transpose(2, 3)).masked_fill(~mask[:, None, None, :], -1e18)
        context = (torch.softmax(logits, -1) @ v).transpose(1, 2).reshape(B, S, H)
        x = x + lin(context, p + "self_attn.final_linear")
        ff_in = _layer_norm(x, sd[p + "feed_forward.layer_norm.weight"], sd[p + "feed_forward.layer_norm.bias"], 1e-6)
        x = x + lin(_gelu_tanh(lin(ff_in, p + "feed_forward.w_1")), p + "feed_forward.w_2")
    out = lin(_layer_norm(x, sd["ext_layer.layer_norm.weight"], sd["ext_layer.layer_norm.bias"], 1e-6), "ext_layer.wo")
    return torch.sigmoid(out.squeeze(-1)) * mask.float()


def _random_head(config: BertSumConfig, dim: int = 32, seed: int = 0) -> ExtTransformerEncoder:
    torch.manual_seed(seed)
    head = ExtTransformerEncoder(dim, config).eval()
    with torch.no_grad():
        for p in head.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    return head


def _batch(B: int = 3, S: int = 7, H: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    sents = torch.randn(B, S, H)
    lengths = torch.tensor([7, 4, 1])[:B]
    mask = torch.arange(S)[None, :] < lengths[:, None]
    return sents, mask


def test_head_equals_presumm_formula_on_random_weights():
    config = BertSumConfig(ext_layers=3, ext_heads=4, ext_ff_size=48)
    head = _random_head(config)
    sents, mask = _batch()
    sd = {"ext_layer." + k: v for k, v in head.state_dict().items()}
    expected = presumm_scores(sd, sents, mask, layers=3, heads=4)
    with torch.no_grad():
        got = torch.sigmoid(head(sents, mask)) * mask
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert (got[~mask] == 0).all()
    # padding never leaks: a document's scores do not depend on what sits in padded slots
    with torch.no_grad():
        noisy = sents.clone()
        noisy[~mask] = 100.0
        torch.testing.assert_close(torch.sigmoid(head(noisy, mask)) * mask, got)


def test_zero_attention_bias_changes_nothing_and_a_nonzero_one_does():
    sents, mask = _batch()
    plain = _random_head(BertSumConfig(ext_heads=4, ext_ff_size=48))
    biased = ExtTransformerEncoder(
        32, BertSumConfig(ext_heads=4, ext_ff_size=48, attn_bias=True, attn_bias_max_distance=4)
    ).eval()
    missing, unexpected = biased.load_state_dict(plain.state_dict(), strict=False)
    assert unexpected == [] and all(k.endswith("rel_bias") for k in missing) and missing
    assert all((layer.self_attn.rel_bias == 0).all() for layer in biased.transformer_inter)  # E starts at zero
    with torch.no_grad():
        torch.testing.assert_close(biased(sents, mask), plain(sents, mask))
        biased.transformer_inter[0].self_attn.rel_bias.normal_(0, 2.0)
        assert not torch.allclose(biased(sents, mask), plain(sents, mask), atol=1e-3)


def test_attention_bias_is_indexed_by_clipped_relative_distance():
    """With queries and keys zeroed, attention weights are softmax(E[h, clip(j - i)] / sqrt(d)); read them out
    by making values the identity and feeding one-hot position vectors."""
    heads, d, S, M = 2, 16, 10, 3
    attn = MultiHeadedAttention(heads, heads * d, dropout=0.0, bias_max_distance=M).eval()
    torch.manual_seed(2)
    with torch.no_grad():
        for lin in (attn.linear_query, attn.linear_keys):
            lin.weight.zero_()
            lin.bias.zero_()
        for lin in (attn.linear_values, attn.final_linear):
            lin.weight.copy_(torch.eye(heads * d))
            lin.bias.zero_()
        attn.rel_bias.copy_(torch.randn(heads, 2 * M + 1) * 3)
    x = torch.zeros(1, S, heads * d)
    for h in range(heads):
        for j in range(S):
            x[0, j, h * d + j] = 1.0  # head h's slice of sentence j is one-hot at j
    with torch.no_grad():
        out = attn(x, torch.zeros(1, S, dtype=torch.bool))[0]  # (S, heads*d)
    E = attn.rel_bias.detach()
    for h in range(heads):
        weights = out[:, h * d : h * d + S]  # (S, S): row i = attention of sentence i over sentences j
        for i in range(S):
            logits = torch.tensor([E[h, max(-M, min(M, j - i)) + M] for j in range(S)]) / math.sqrt(d)
            torch.testing.assert_close(weights[i], torch.softmax(logits, -1), atol=1e-6, rtol=1e-5)
        # shift invariance: the ratio between attending delta=+1 and delta=-1 is the same for every row
        ratios = torch.stack([weights[i, i + 1] / weights[i, i - 1] for i in range(1, S - 1)])
        torch.testing.assert_close(
            ratios, torch.full_like(ratios, float(torch.exp((E[h, M + 1] - E[h, M - 1]) / math.sqrt(d))))
        )
