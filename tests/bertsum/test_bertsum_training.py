"""Training and evaluation: oracle labels, data hygiene, the training loop with resume, ROUGE evaluation."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pytest
from bertsum_helpers import small_encoder_config
from transformers import BertModel, PreTrainedTokenizerBase

from docsum.bertsum.data import normalized_hash, read_examples, read_jsonl, undo_ptb
from docsum.bertsum.evaluate import evaluate
from docsum.bertsum.model import ExtSummarizer
from docsum.bertsum.oracle import greedy_oracle
from docsum.bertsum.train import TrainConfig, interleave, lr_factor, train
from docsum.commands.training import TEST_FILES, TRAIN_FILES, VALID_FILES
from docsum.ingest.extract import document_sentences

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
    test_hashes = {normalized_hash(r["article"]) for f in TEST_FILES for r in read_jsonl(shared_data / f)}
    assert len(test_hashes) > 4000  # 4,482 + 1,130 records, some stories in both files
    for f in (shared_data / name for name in TRAIN_FILES + VALID_FILES):
        leaked = [r["id"] for r in read_jsonl(f) if normalized_hash(r["article"]) in test_hashes]
        assert leaked == [], f"{f}: {leaked[:5]}"


def test_trainer_refuses_training_files_that_contain_a_test_article(tmp_path: Path, shared_data: Path) -> None:
    test_record = next(read_jsonl(shared_data / "cnndm_ptb_lower/test.jsonl.gz"))
    train_file = tmp_path / "train.jsonl.gz"
    with gzip.open(train_file, "wt") as f:
        for record in [next(read_jsonl(shared_data / "cnndm/train.jsonl.gz")), test_record]:
            f.write(json.dumps(record) + "\n")
    with pytest.raises(ValueError, match="1 training articles are test articles"):
        interleave(
            [str(train_file)], document_sentences, seed=0, limit=None, exclude={normalized_hash(test_record["article"])}
        )


def test_learning_rate_schedule_warms_up_linearly_then_decays_as_inverse_sqrt() -> None:
    assert lr_factor(50, 100) == pytest.approx(0.5)
    assert lr_factor(100, 100) == pytest.approx(1.0)
    assert lr_factor(400, 100) == pytest.approx(0.5)
    assert max(lr_factor(s, 100) for s in range(1, 1000)) == pytest.approx(1.0)


def _write_articles(path: Path, n: int, offset: int = 0) -> None:
    with gzip.open(path, "wt") as f:
        for i in range(offset, offset + n):
            sentences = [
                f"Story {i} sentence {j} says the council voted on plan number {i * 7 + j} today." for j in range(8)
            ]
            f.write(
                json.dumps(
                    {"id": str(i), "article": " ".join(sentences), "highlights": sentences[1] + "\n" + sentences[4]}
                )
                + "\n"
            )


def test_training_runs_checkpoints_resumes_and_saves_a_loadable_model(
    tmp_path: Path, tokenizer: PreTrainedTokenizerBase
) -> None:
    encoder_dir = tmp_path / "encoder"
    BertModel(small_encoder_config(tokenizer)).save_pretrained(encoder_dir)
    tokenizer.save_pretrained(encoder_dir)
    _write_articles(tmp_path / "train.jsonl.gz", 160)  # more than one 64-article sorting buffer
    _write_articles(tmp_path / "valid.jsonl.gz", 4, offset=100)
    config = dict(
        out=str(tmp_path / "run"),
        train_files=[str(tmp_path / "train.jsonl.gz")],
        valid_files=[str(tmp_path / "valid.jsonl.gz")],
        encoder=str(encoder_dir),
        window_tokens=128,
        batch_tokens=512,
        accum=1,
        warmup=2,
        eval_every=2,
        valid_docs=4,
    )
    first = train(TrainConfig(**config, max_updates=2), document_sentences)
    assert first["update"] == 2 and (tmp_path / "run/checkpoint.pt").exists()
    resumed = train(TrainConfig(**config, max_updates=4), document_sentences)
    assert resumed["update"] == 4 and resumed["consumed"] > first["consumed"]  # went on with unseen articles
    assert [h["update"] for h in resumed["history"]][:2] == [2, 2]  # first run's history kept, then continued
    assert all(math.isfinite(h["valid_loss"]) for h in resumed["history"])
    model = ExtSummarizer.from_pretrained(tmp_path / "run/best", device="cpu")
    assert model.config.trained and model.config.max_pos == 128
    scores = model.score([SENTENCES])[0]
    assert len(scores) == len(SENTENCES) and all(0.0 < s < 1.0 for s in scores)


def test_evaluation_scores_lead3_identically_to_a_lead3_summarizer_and_oracle_above_it(shared_data: Path) -> None:
    examples = list(read_examples(shared_data / "cnndm/validation.jsonl.gz", document_sentences, limit=12))
    result = evaluate(examples, lambda docs: [list(range(min(3, len(d)))) for d in docs], batch_size=5)
    assert result["n"] == 12
    assert result["model"] == result["lead3"]
    assert result["oracle"]["rouge1"] > result["lead3"]["rouge1"] + 5
    assert set(result["model"]) == {"rouge1", "rouge2", "rougeL"}
