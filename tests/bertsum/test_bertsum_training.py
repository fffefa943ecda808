"""Training and evaluation: oracle labels, data hygiene, the pack, the training run with resume, ROUGE evaluation."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pytest
import torch
from bertsum_helpers import generated_article as _article
from bertsum_helpers import write_jsonl as _write

from docsum.bertsum import pack as packs
from docsum.bertsum.data import Example, normalized_hash, read_examples, read_jsonl, undo_ptb
from docsum.bertsum.evaluate import Benchmark, evaluate
from docsum.bertsum.loop import lr_factor
from docsum.bertsum.model import ExtSummarizer
from docsum.bertsum.oracle import greedy_oracle
from docsum.bertsum.run import RunSettings, first_position, planned_batches, run, start_from
from docsum.ingest.extract import document_sentences
from docsum.services.packing import (
    CNNDM_TEST,
    CNNDM_TRAIN,
    CNNDM_VALID,
    LeakedTestArticles,
    PackSpec,
    build_pack,
    training_records,
)

REFERENCE = ["the mayor opened a new bridge over the river on monday"]
SENTENCES = [
    "Local weather was mild and dry for most of the week.",
    "The mayor opened a new bridge over the river on Monday.",
    "Traffic on the old crossing is expected to fall sharply.",
    "A new bridge over the river was first proposed in 1998.",
]


def test_greedy_oracle_picks_the_sentence_that_matches_and_stops_when_nothing_improves() -> None:
    assert greedy_oracle(SENTENCES, REFERENCE) == [1]  # adding anything else lowers ROUGE-1 F + ROUGE-2 F
    assert greedy_oracle(SENTENCES, [SENTENCES[2], SENTENCES[0]], summary_size=3) == [0, 2]  # sorted
    assert greedy_oracle(SENTENCES, []) == []


def test_ptb_tokens_are_undone_and_raw_and_tokenized_versions_hash_the_same() -> None:
    assert undo_ptb("-lrb- cnn -rrb- `` hello '' -lsb- x -rsb-") == '( cnn ) " hello " [ x ]'
    raw = '(CNN) -- The president\'s plan, announced "today", costs $5 billion.'
    ptb = "-lrb- cnn -rrb- -- the president 's plan , announced `` today '' , costs $ 5 billion ."
    assert normalized_hash(raw) == normalized_hash(ptb)
    assert normalized_hash(raw) != normalized_hash(raw.replace("5", "6"))


def test_no_test_article_is_in_the_training_files(shared_data: Path) -> None:
    """What `docsum train` reads by default shares no article (normalized text hash) with either test file."""
    test_hashes = {normalized_hash(r["article"]) for f in CNNDM_TEST for r in read_jsonl(shared_data / f)}
    assert len(test_hashes) > 6000  # 4,482 + 1,130 CNN/DM records (some stories in both files) and BBC's 2,225
    for f in (shared_data / name for name in CNNDM_TRAIN + CNNDM_VALID):
        leaked = [r["id"] for r in read_jsonl(f) if normalized_hash(r["article"]) in test_hashes]
        assert leaked == [], f"{f}: {leaked[:5]}"


def test_trainer_refuses_training_files_that_contain_a_test_article(tmp_path: Path, shared_data: Path) -> None:
    test_record = next(read_jsonl(shared_data / "cnndm_ptb_lower/test.jsonl.gz"))
    train_file = tmp_path / "train.jsonl.gz"
    with gzip.open(train_file, "wt") as f:
        for record in [next(read_jsonl(shared_data / "cnndm/train.jsonl.gz")), test_record]:
            f.write(json.dumps(record) + "\n")
    with pytest.raises(LeakedTestArticles, match="1 training articles are test articles"):
        training_records([str(train_file)], seed=0, limit=None, exclude={normalized_hash(test_record["article"])})


def test_learning_rate_schedule_warms_up_linearly_then_decays_as_inverse_sqrt() -> None:
    assert lr_factor(50, 100) == pytest.approx(0.5)
    assert lr_factor(100, 100) == pytest.approx(1.0)
    assert lr_factor(400, 100) == pytest.approx(0.5)
    assert max(lr_factor(s, 100) for s in range(1, 1000)) == pytest.approx(1.0)


@pytest.fixture(scope="module")
def small_pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pack of 40 generated articles (the bundled encoder: what a real run trains)."""
    root = tmp_path_factory.mktemp("pack")
    spec = PackSpec(
        out=root / "pack",
        train_files=[_write(root / "train.jsonl.gz", [_article(i) for i in range(40)])],
        valid_files=[_write(root / "valid.jsonl.gz", [_article(i) for i in range(100, 106)])],
        test_files=[_write(root / "test.jsonl.gz", [_article(i) for i in range(200, 203)])],
        valid_docs=6,
        valid_r1_docs=5,
        test_docs=0,
        window_tokens=64,
        xz_preset=0,
    )
    build_pack(spec, say=lambda line: None)
    return spec.out


def test_the_pack_refuses_a_training_file_with_a_test_article(tmp_path: Path) -> None:
    spec = PackSpec(
        out=tmp_path / "pack",
        train_files=[_write(tmp_path / "t.jsonl.gz", [_article(1), _article(201)])],
        valid_files=[_write(tmp_path / "v.jsonl.gz", [_article(100)])],
        test_files=[_write(tmp_path / "x.jsonl.gz", [_article(201)])],
    )
    with pytest.raises(LeakedTestArticles, match="1 training articles are test articles"):
        build_pack(spec, say=lambda line: None)
    assert not spec.out.exists()


def test_the_pack_holds_whole_validation_documents_for_rouge(small_pack: Path) -> None:
    manifest = packs.read_manifest(small_pack)
    assert manifest["train_docs"] == 40 and manifest["valid_docs"] == 6 and manifest["valid_r1_docs"] == 5
    valid_text = packs.read_json_xz(small_pack / "valid_text.json.xz")
    samples = packs.load_samples(small_pack / "valid.npz.xz", packs.load_tokenizer(small_pack), True)
    # ROUGE reads every sentence of the document, the loss only those in its first two windows (64 tokens here).
    assert all(len(v["sentences"]) == 9 for v in valid_text)
    assert all(len(samples[v["index"]].labels) < 9 for v in valid_text)


def test_a_resumed_stream_goes_on_with_exactly_the_batches_an_unbroken_one_would_train(small_pack: Path) -> None:
    samples = packs.load_samples(small_pack / "train.npz.xz", packs.load_tokenizer(small_pack), True)
    s = RunSettings(pack=str(small_pack), out="-", batch_tokens=512, sort_buffer=16)
    seen: list[int] = []
    unbroken = []
    for planned in planned_batches(samples, s, (0, 0, 0), lambda: len(seen) >= 90):
        unbroken.append((planned.position, [id(x) for x in planned.samples]))
        seen.extend(id(x) for x in planned.samples)
    cut = len(unbroken) // 2 + 1  # mid-buffer and across a pass boundary (90 documents of 40)
    resumed = [
        (p.position, [id(x) for x in p.samples])
        for _, p in zip(range(len(unbroken) - cut), planned_batches(samples, s, unbroken[cut - 1][0], lambda: False))
    ]
    assert resumed == unbroken[cut:]
    first_pass = [i for _, ids in unbroken for i in ids][:40]
    assert sorted(first_pass) == sorted(id(x) for x in samples)  # a pass sees every document once


def test_a_continued_run_skips_the_documents_its_start_model_saw(small_pack: Path) -> None:
    manifest = packs.read_manifest(small_pack)
    samples = packs.load_samples(
        small_pack / "train.npz.xz", packs.load_tokenizer(small_pack), manifest["use_interval"]
    )
    fresh = RunSettings(pack=str(small_pack), out="-", batch_tokens=512, sort_buffer=16)
    continued = RunSettings(pack=str(small_pack), out="-", batch_tokens=512, sort_buffer=16, skip_docs=20)
    assert first_position(fresh) == (0, 0, 0) and first_position(continued) == (0, 2, 0)  # 20 -> 2 whole buffers

    def first_pass(s: RunSettings) -> list[int]:
        ids: list[int] = []
        for planned in planned_batches(samples, s, first_position(s), lambda: False):
            if planned.position[0] > 0:
                return ids
            ids.extend(id(x) for x in planned.samples)
        raise AssertionError("unreachable")

    seen_by_start_model = first_pass(fresh)[:20]
    rest = first_pass(continued)
    assert rest and not set(rest) & set(seen_by_start_model)
    assert len(rest) == len(samples) - 32


def test_the_run_evaluates_as_docsum_eval_keeps_the_best_checkpoints_and_resumes(
    small_pack: Path, tmp_path: Path
) -> None:
    settings = dict(
        pack=str(small_pack),
        out=str(tmp_path / "run"),
        plan_docs=24,
        batch_tokens=512,
        accum=1,
        warmup=2,
        eval_minutes=0.0,  # after every update
        checkpoint_minutes=1000.0,
        precision="fp32",
        threads=1,
    )
    first = run(RunSettings(**settings, minutes=1e-4))  # the first update runs past the budget: stops there
    assert first["status"] == "stopped" and len(first["history"]) == 1
    ckpt = torch.load(tmp_path / "run/checkpoint.pt", weights_only=False)
    assert ckpt["state"]["update"] == 1 and ckpt["state"]["position"] == (0, 0, 1)

    second = run(RunSettings(**settings, minutes=5.0))
    history = second["history"]
    assert second["status"] == "complete" and history[0] == first["history"][0]
    assert [h["update"] for h in history] == list(range(1, len(history) + 1))
    assert history[-1]["docs_seen"] >= 24 and all(math.isfinite(h["valid_loss"]) for h in history)

    # Lead-3 on the curve is `docsum eval`'s Lead-3 on the same documents; the model's R1 is its R1 of the picks.
    valid_text = packs.read_json_xz(small_pack / "valid_text.json.xz")
    examples = [Example(str(i), v["sentences"], v["reference"], "") for i, v in enumerate(valid_text)]
    lead = evaluate(examples, lambda docs: [list(range(3)) for _ in docs])["lead3"]["rouge1"]
    assert {h["lead3_r1"] for h in history} == {lead}
    best = max(history, key=lambda h: (h["r1"], -h["valid_loss"]))
    assert second["best"]["docs_seen"] == best["docs_seen"] and second["best"]["r1"] == best["r1"]

    model = ExtSummarizer.from_pretrained(tmp_path / "run/best", device="cpu")
    assert model.config.trained and model.config.word_embeddings == "bundled" and model.config.ext_dropout == 0.0
    bench = Benchmark([(v["sentences"], v["reference"]) for v in valid_text])
    scores = bench.score([s.indices for s in model.summarize(bench.sentences, k=3)])
    assert scores["lead3"]["rouge1"] == lead and scores["oracle"]["rouge1"] >= lead

    again = run(RunSettings(**settings, minutes=5.0))  # the plan is done: nothing more is trained
    assert again["history"] == history


def test_a_run_can_start_from_a_saved_model_and_refuses_one_of_another_shape(small_pack: Path, tmp_path: Path) -> None:
    manifest = packs.read_manifest(small_pack)
    donor = packs.build_model(small_pack, manifest, dropout=0.0)
    with torch.no_grad():
        donor.ext_layer.wo.bias.fill_(0.75)
        donor.bert.model.encoder.layer[0].output.dense.bias.fill_(-0.5)
    donor.save_pretrained(tmp_path / "donor")
    model = packs.build_model(small_pack, manifest, dropout=0.0)
    assert not torch.equal(model.ext_layer.wo.bias, donor.ext_layer.wo.bias)
    start_from(model, tmp_path / "donor")
    theirs = donor.state_dict()
    assert all(torch.equal(v, theirs[k]) for k, v in model.state_dict().items())  # encoder, head, embeddings

    shallower = packs.build_model(small_pack, manifest, dropout=0.0)  # a head of one layer: another architecture
    shallower.ext_layer.transformer_inter = shallower.ext_layer.transformer_inter[:1]
    shallower.config.ext_layers = 1
    shallower.save_pretrained(tmp_path / "other")
    with pytest.raises(ValueError, match="not a model of this pack's architecture"):
        start_from(packs.build_model(small_pack, manifest, dropout=0.0), tmp_path / "other")


def test_dropout_set_to_zero_makes_a_training_step_deterministic(small_pack: Path) -> None:
    manifest = packs.read_manifest(small_pack)
    model = packs.build_model(small_pack, manifest, dropout=0.0)
    model.train()
    samples = packs.load_samples(small_pack / "valid.npz.xz", model.tokenizer, True)[:2]
    from docsum.bertsum.loop import batch_logits

    first, _ = batch_logits(model, samples, torch.device("cpu"))
    second, _ = batch_logits(model, samples, torch.device("cpu"))
    assert torch.equal(first, second)
    assert {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)} == {0.0}
    packs.set_dropout(model, 0.1)
    third, _ = batch_logits(model, samples, torch.device("cpu"))
    assert not torch.equal(first, third)  # the setting reaches the encoder's dropouts and the head's


def test_evaluation_scores_lead3_identically_to_a_lead3_summarizer_and_oracle_above_it(shared_data: Path) -> None:
    examples = list(read_examples(shared_data / "cnndm/validation.jsonl.gz", document_sentences, limit=12))
    result = evaluate(examples, lambda docs: [list(range(min(3, len(d)))) for d in docs], batch_size=5)
    assert result["n"] == 12
    assert result["model"] == result["lead3"]
    assert result["oracle"]["rouge1"] > result["lead3"]["rouge1"] + 5
    assert set(result["model"]) == {"rouge1", "rouge2", "rougeL"}
