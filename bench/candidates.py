"""What reaches the model on real pages and PDFs: candidate sentences, paragraph breaks, pages, junk in summaries.

Over ../shared/data/html_benchmark (181 pages with ground truth) and ../shared/data/pdf_samples (every file that
extracts), through the ingest path and the summarize path's candidate rule, with the shipped model (k=3):

- candidates under 4 words: share of candidate sentences with fewer than 4 word tokens, counted here with a plain
  regex (\\w+ runs, CJK characters one each), not the rule's own counter;
- mid-paragraph breaks (HTML): consecutive stored sentences where the first stops mid-sentence (it ends in a word
  or a comma, not in punctuation, a symbol or a table cell), the second is no list item, and the ground truth has
  both in one paragraph (the first's last words and the second's first words in one truth line);
- PDF sentences without a page;
- PDF candidates and summary sentences without final punctuation (no . ! ? : ; closing quote or bracket at the end):
  sentences cut at a line end, titles, banners, table cells (target 0 in summaries);
- junk summary sentences: summary sentences flagged by detectors written here, apart from the candidate rule:
  fragments (no letter, under 4 word tokens, or a lowercase start in cased text), page furniture (the line occurs on
  two or more pages of its PDF, digits ignored), markup (table rules, pipes, tags), bylines and datelines;
- HTML F1: token 4-gram shingle F1 of the stored sentences against the ground truth (as bench/html_extraction.py).

`--offer all` summarizes every stored sentence instead of the candidates: the junk share without the rule.

    .venv/bin/python bench/candidates.py [--offer candidates|all] [--json PATH] [--show 10]
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import re
import statistics
import time
from collections import Counter
from pathlib import Path

from docsum.config import Settings
from docsum.ingest.errors import ExtractionError
from docsum.ingest.extract import extract_document
from docsum.ingest.quality import shingle_f1

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]|[^\W_]+", re.UNICODE)
_MID = re.compile(r"[\w,]$")  # where a sentence cannot end
_FINAL = re.compile(r"""[.!?:;…。！？"'”’»)\]]$""")  # final punctuation


def unpunctuated(sentence: str) -> bool:
    return not _FINAL.search(sentence.strip())


_BULLET = re.compile(r"^[-•*·]\s")  # a list item starts a block of its own
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_DATE = re.compile(rf"\b(\d{{1,2}}\s+{_MONTH}\s+\d{{4}}|{_MONTH}\s+\d{{1,2}},?\s+\d{{4}}|\d{{4}}-\d\d-\d\d)\b", re.I)


def tokens(sentence: str) -> list[str]:
    return _TOKEN.findall(sentence)


def junk_kind(sentence: str, furniture: set[str], cased_doc: bool) -> str | None:
    """Independent junk detectors (see the module docstring); None: a sentence a reader would accept."""
    text = sentence.strip()
    words = tokens(text)
    if not any(ch.isalpha() for ch in text) or len(words) < 4:
        return "fragment"
    if cased_doc and text[:1].islower() and not any(ch.isupper() for ch in text.split(" ", 1)[0]):
        return "fragment"
    if re.sub(r"\d+", "#", text.casefold()) in furniture:
        return "furniture"
    if re.search(r"[|+]\s*:?-{3,}", text) or text.count("|") >= 2 or re.search(r"</?[a-z]+[^>]*>", text):
        return "markup"
    if re.match(r"^(by|posted by|written by)\s+[A-Z]", text, re.I) and len(words) <= 10:
        if not any(
            w[0].islower()
            for w in words[1:]
            if w.lower() not in {"and", "of", "the", "de", "van", "von"}
            and not w.isdigit()
            and not re.match(_MONTH, w, re.I)
        ):
            return "byline"
    if _DATE.search(text):
        rest = [w for w in tokens(_DATE.sub(" ", text)) if not w.isdigit()]
        vocab = {"posted", "updated", "published", "on", "at", "a", "m", "p", "am", "pm", "by", "last", "modified"}
        names = [w for w in rest if w.lower() not in vocab]
        if all(w[0].isupper() for w in names) and len(names) <= 3:
            return "byline"
    return None


def page_furniture(text: str) -> set[str]:
    """Lines (digits as #, casefolded) found on two or more pages of a PDF's stored text."""
    seen: Counter[str] = Counter()
    for page in text.split("\f"):
        lines = {" ".join(line.split()).casefold() for line in page.splitlines() if line.strip()}
        seen.update({re.sub(r"\d+", "#", line) for line in lines})
    return {line for line, n in seen.items() if n >= 2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--offer", choices=["candidates", "all"], default="candidates")
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--show", type=int, default=10, help="print up to N junk summary sentences")
    args = parser.parse_args()
    logging.getLogger("pdfminer").setLevel(logging.ERROR)
    from docsum.services.summary_sentences import offered_indices

    settings = Settings(database_url="sqlite://", max_extract_seconds=120.0, max_pdf_pages=30)

    docs = []  # (kind, name, Extracted, truth or None)
    truth = json.loads((args.data / "html_benchmark" / "ground-truth.json").read_text(encoding="utf-8"))
    f1s = []
    for page_id, entry in sorted(truth.items()):
        raw = gzip.decompress((args.data / "html_benchmark" / "html" / f"{page_id}.html.gz").read_bytes())
        try:
            doc = extract_document(raw, f"{page_id}.html", settings)
        except ExtractionError:
            f1s.append(0.0)
            continue
        f1s.append(shingle_f1(" ".join(doc.sentences), entry["articleBody"]))
        docs.append(("html", page_id, doc, entry["articleBody"]))
    manifest = json.loads((args.data / "pdf_samples" / "manifest.json").read_text(encoding="utf-8"))["files"]
    for entry in manifest:
        try:
            doc = extract_document((args.data / "pdf_samples" / entry["file"]).read_bytes(), entry["file"], settings)
        except ExtractionError:
            continue
        docs.append(("pdf", Path(entry["file"]).name, doc, None))

    candidates = short = breaks = html_pairs = pdf_sentences = pdf_no_page = pdf_candidates = pdf_unpunctuated = 0
    offered_per_doc = []
    for kind, _name, doc, body in docs:
        offered = offered_indices(doc.sentences, doc.sentence_info)
        candidates += len(offered)
        short += sum(1 for i in offered if len(tokens(doc.sentences[i])) < 4)
        if kind == "pdf":
            pdf_sentences += len(doc.sentences)
            pdf_no_page += sum(1 for info in doc.sentence_info if not info.get("page"))
            pdf_candidates += len(offered)
            pdf_unpunctuated += sum(1 for i in offered if unpunctuated(doc.sentences[i]))
        else:
            lines = [" ".join(tokens(line)).lower() for line in body.splitlines()]
            for a, b in zip(doc.sentences, doc.sentences[1:]):
                html_pairs += 1
                if not _MID.search(a) or len(tokens(a)) < 2 or not tokens(b) or "|" in a + b or _BULLET.match(b):
                    continue
                joint = " ".join(tokens(a)[-4:] + tokens(b)[:4]).lower()
                breaks += any(joint in line for line in lines)
        offered_per_doc.append(offered if args.offer == "candidates" else list(range(len(doc.sentences))))

    from docsum.bertsum import ExtSummarizer
    from docsum.services.models import model_path

    model = ExtSummarizer.from_pretrained(model_path(settings), device="cpu")  # DOCSUM_MODEL, else the shipped one
    start = time.perf_counter()
    offered_docs = [[doc.sentences[i] for i in offered] for (_, _, doc, _), offered in zip(docs, offered_per_doc)]
    picks = model.summarize(offered_docs, k=args.k)
    seconds = time.perf_counter() - start
    junk: Counter[str] = Counter()
    summary_sentences = pdf_summary_sentences = pdf_summary_unpunctuated = 0
    shown = []
    for (kind, name, doc, _), offered, pick in zip(docs, offered_per_doc, picks):
        furniture = page_furniture(doc.text) if kind == "pdf" else set()
        cased = sum(s[:1].isupper() for s in doc.sentences) >= 0.8 * max(1, sum(s[:1].isalpha() for s in doc.sentences))
        for i in pick.indices:
            sentence = doc.sentences[offered[i]]
            summary_sentences += 1
            if kind == "pdf":
                pdf_summary_sentences += 1
                if unpunctuated(sentence):
                    pdf_summary_unpunctuated += 1
                    shown.append(f"  no stop   {kind} {name[:20]:<20} {sentence[:90]!r}")
            what = junk_kind(sentence, furniture, cased)
            if what:
                junk[what] += 1
                shown.append(f"  {what:<9} {kind} {name[:20]:<20} {sentence[:90]!r}")

    share = lambda a, b: round(100 * a / b, 2) if b else 0.0  # noqa: E731
    figures = {
        "offer": args.offer,
        "documents": {"html": sum(1 for d in docs if d[0] == "html"), "pdf": sum(1 for d in docs if d[0] == "pdf")},
        "candidate_sentences": candidates,
        "candidates_under_4_words_pct": share(short, candidates),
        "html_mid_paragraph_breaks": breaks,
        "html_sentence_pairs": html_pairs,
        "pdf_sentences": pdf_sentences,
        "pdf_sentences_without_page": pdf_no_page,
        "pdf_candidates": pdf_candidates,
        "pdf_candidates_without_final_punctuation": pdf_unpunctuated,
        "pdf_summary_sentences": pdf_summary_sentences,
        "pdf_summary_sentences_without_final_punctuation": pdf_summary_unpunctuated,
        "summary_sentences": summary_sentences,
        "junk_summary_sentences": dict(junk),
        "junk_summary_pct": share(sum(junk.values()), summary_sentences),
        "html_f1_mean": round(statistics.mean(f1s), 4),
        "summarize_seconds": round(seconds, 1),
    }
    n_docs = figures["documents"]
    print(f"documents: {n_docs['html']} HTML pages, {n_docs['pdf']} PDFs; model offered: {args.offer}")
    print(
        f"candidate sentences under 4 words: {short}/{candidates} = {figures['candidates_under_4_words_pct']}% "
        "(target <= 2%)"
    )
    print(f"HTML mid-paragraph breaks: {breaks} of {html_pairs} sentence pairs  (target 0)")
    print(f"PDF sentences without a page: {pdf_no_page} of {pdf_sentences}  (target 0)")
    print(f"PDF candidates without final punctuation: {pdf_unpunctuated} of {pdf_candidates}")
    print(
        f"PDF summary sentences without final punctuation: {pdf_summary_unpunctuated} of {pdf_summary_sentences}"
        "  (target 0)"
    )
    print(
        f"junk summary sentences: {sum(junk.values())}/{summary_sentences} = {figures['junk_summary_pct']}% "
        f"{dict(junk)}  (target <= 2%)"
    )
    print(f"HTML F1 (stored sentences vs ground truth): {figures['html_f1_mean']:.3f}  (target >= 0.956)")
    for line in shown[: args.show]:
        print(line)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
