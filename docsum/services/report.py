"""A batch's run report: one self-contained HTML page (no external assets) with its counts, duration and docs/s,
its failures grouped by reason, and every document's summary with a link to its source.

Written by `docsum report`, `docsum run --report` and, for nightly batches, into DOCSUM_REPORT_DIR when the batch
finishes. Rendered by Jinja2 with autoescaping: document titles, sentences and errors are untrusted text.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docsum.config import Settings
from docsum.errors import FailureClass
from docsum.services.batches import BatchReport, ResultRecord, batch_report, batch_results, get_batch
from docsum.services.display import printable
from docsum.services.failures import failure_reason

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

TEMPLATE = "report.html.j2"
MAX_DOCUMENTS = 5000  # documents listed in full; the counts and failure groups always cover the whole batch
EXAMPLES_PER_REASON = 20


@dataclass
class CitedSentence:
    text: str
    index: int
    score: float | None
    page: int | None  # 1-based page of a PDF, when the results carry it
    # `index` counts from 0, as the `index` of the JSONL/CSV export does: the report shows it as it is.


@dataclass
class DocumentRow:
    job_id: int
    name: str
    source: str  # the stored source URI: the full path, shown on hover
    link: str | None  # file:// URI of the source file (the archive, for a member)
    status: str
    sentences: list[CitedSentence] = field(default_factory=list)
    error: str | None = None
    extraction_note: str | None = None  # what extraction left out (pages past the cap, a cut text)
    shown_source: str = ""  # the source relative to the root the user gave (see `relative_sources`)


@dataclass
class FailureGroup:
    reason: str
    failure_class: str
    count: int
    examples: list[DocumentRow] = field(default_factory=list)


@dataclass
class RunReport:
    batch: BatchReport
    documents: list[DocumentRow]
    failures: list[FailureGroup]
    total_documents: int
    generated_at: datetime

    @property
    def duration_s(self) -> float:
        return self.batch.elapsed_s

    @property
    def shown(self) -> int:
        return len(self.documents)


def _pages(record: ResultRecord) -> list[int | None]:
    """Page of each summary sentence (1-based, paginated documents only), from the record's cited `sentences`,
    which come in the order of `summary`."""
    n = len(record.summary)
    found = []
    for cited in record.sentences or []:
        page = cited.get("page") if isinstance(cited, dict) else None
        found.append(int(page) if page is not None else None)
    return [*found, *([None] * n)][:n]


def _link(source_uri: str) -> str | None:
    path = source_uri.split("!", 1)[0]  # an archive member links to its archive
    return Path(path).as_uri() if os.path.isabs(path) else None


def _row(record: ResultRecord) -> DocumentRow:
    member = record.source_uri.split("!")[-1]
    name = record.title or Path(member).name or record.source_uri
    scores = list(record.scores) + [None] * len(record.summary)
    sentences = [
        CitedSentence(text=text, index=index, score=scores[i], page=page)
        for i, (text, index, page) in enumerate(zip(record.summary, record.indices, _pages(record), strict=False))
    ]
    return DocumentRow(
        job_id=record.job_id,
        name=name,
        source=record.source_uri,
        link=_link(record.source_uri),
        status=record.status,
        sentences=sentences,
        error=record.error,
        extraction_note=record.extraction_note,
        shown_source=record.source_uri,
    )


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def relative_sources(rows: Iterable[DocumentRow], roots: Sequence[str] | None) -> None:
    """Show each source relative to the root the user gave (a folder: its path below it; a file: its name), so that
    a report carries no more of the machine's paths than the user typed. Without roots (nightly runs, older batches),
    relative to the folder the shown documents share."""
    rows = list(rows)
    paths = [row.source.split("!", 1)[0] for row in rows]
    bases = [root for root in roots or [] if os.path.isabs(root)]
    if not bases:
        absolute = [os.path.dirname(p) for p in paths if os.path.isabs(p)]
        bases = [os.path.commonpath(absolute)] if absolute else []
    for row, path in zip(rows, paths, strict=True):
        member = row.source[len(path) :]  # "!member" of an archive, or ""
        base = next((b for b in bases if _within(path, b)), None)
        if base is None:
            continue
        shown = os.path.basename(path) if path == base else os.path.relpath(path, base)
        row.shown_source = shown + member


def build_report(
    batch: BatchReport,
    records: Iterable[ResultRecord],
    max_documents: int = MAX_DOCUMENTS,
    roots: Sequence[str] | None = None,
) -> RunReport:
    documents: list[DocumentRow] = []
    groups: dict[tuple[str, str], FailureGroup] = {}  # by (class, the reason's leading phrase)
    total = 0
    for record in records:
        total += 1
        row = _row(record)
        if len(documents) < max_documents:
            documents.append(row)
        if record.status == "failed":
            failure = FailureClass.of_failed(record.failure_class).value
            key = (failure, failure_reason(record.error))
            group = groups.get(key)
            if group is None:
                group = groups[key] = FailureGroup(key[1], failure, 0)
            group.count += 1
            if len(group.examples) < EXAMPLES_PER_REASON:
                group.examples.append(row)
    by_class: dict[str, int] = {}
    for group in groups.values():
        by_class[group.failure_class] = by_class.get(group.failure_class, 0) + group.count
    # The largest class first, and within it the most frequent reason.
    failures = sorted(groups.values(), key=lambda g: (-by_class[g.failure_class], g.failure_class, -g.count, g.reason))
    relative_sources(
        {id(row): row for row in [*documents, *(row for g in failures for row in g.examples)]}.values(), roots
    )
    return RunReport(batch, documents, failures, total, datetime.now(UTC))


def render_report(report: RunReport) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("docsum", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_printable,
    )
    return env.get_template(TEMPLATE).render(r=report, b=report.batch)


def _printable(value: object) -> object:
    """Every value the page shows, with control characters escaped (names and summaries are user data); markup the
    template built itself (JSON for scripts) is left as it is."""
    from markupsafe import Markup

    return printable(value) if isinstance(value, str) and not isinstance(value, Markup) else value


def batch_report_html(session: Session, batch_id: int, max_documents: int = MAX_DOCUMENTS) -> str:
    """The report page of a batch as of now. Raises BatchNotFound."""
    report = batch_report(session, batch_id)
    roots = (get_batch(session, batch_id).params or {}).get("roots")
    return render_report(build_report(report, batch_results(session, batch_id), max_documents, roots))


def write_report(session: Session, batch_id: int, out: str | os.PathLike[str]) -> Path:
    """Write the report page (atomically: a reader never sees half a page); returns the path."""
    html = batch_report_html(session, batch_id)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    return out


def nightly_report_path(settings: Settings, batch_id: int, name: str) -> Path | None:
    if settings.report_dir is None:
        return None
    day = name.removeprefix("nightly ").strip() or "undated"
    return Path(settings.report_dir) / f"nightly-{day}-batch{batch_id}.html"


def write_nightly_report(sessions: sessionmaker[Session], settings: Settings, batch_id: int) -> Path | None:
    """If DOCSUM_REPORT_DIR is set and this batch is a nightly run that has ended, write its report there. Never
    raises: a report that cannot be written is logged, and the run it describes is not affected."""
    if settings.report_dir is None:
        return None
    try:
        with sessions() as session:
            batch = get_batch(session, batch_id)
            params: dict[str, Any] = batch.params or {}
            if "scan" not in params or str(batch.status) == "running":  # only a nightly run's batch has a scan
                return None
            path = nightly_report_path(settings, batch_id, batch.name)
            assert path is not None
            write_report(session, batch_id, path)
    except Exception:
        log.exception("batch %s: the nightly report could not be written to %s", batch_id, settings.report_dir)
        return None
    log.info("batch %s: report written to %s", batch_id, path)
    return path
