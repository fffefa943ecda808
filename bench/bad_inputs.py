"""Crafted bad inputs through the real ingest path: outcome, wall time and peak memory per case.

Each case is generated in a temporary directory (bombs, traversal, links, markup names, huge pages, invalid
encodings, stalls) by this process, then ingested by `ingest_paths` into a fresh SQLite database in a process of its
own, so that peak memory is the ingest's alone: `worker MiB` is the ingesting process (its Python, SQLAlchemy and
archive reading), `extractor MiB` the largest extraction child.

    python bench/bad_inputs.py [--seconds 10] [--memory-mib 2048] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from bad_input_cases import (  # noqa: E402
    flate_bomb_pdf,
    huge_html,
    single_line_html,
    symlink,
    tar_of,
    utf8_page_with_one_bad_byte,
    write,
    zero_tar_gz,
    zip_of,
    zlib_of_repeated,
)


def gzip_of_repeated(chunk: bytes, times: int) -> bytes:
    """A gzip member around zlib_of_repeated's deflate blocks (header, blocks, CRC-32 and size trailer)."""
    import zlib

    deflate = zlib_of_repeated(chunk, times)[2:-4]
    crc = 0
    for _ in range(times):
        crc = zlib.crc32(chunk, crc)
    size = (len(chunk) * times) & 0xFFFFFFFF
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + deflate + crc.to_bytes(4, "little") + size.to_bytes(4, "little")


TEXT = b"The council approved the budget on Tuesday. Work on the bridge starts in May."


def _zip_bomb(d: Path) -> list[Path]:
    import zipfile

    d.mkdir(parents=True, exist_ok=True)
    path = d / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("zeros.txt", "w") as member:
        for _ in range(512):
            member.write(b"\0" * (1 << 20))
    return [path]


def _link_out_of_root(d: Path) -> list[Path]:
    write(d / "root" / "inside.txt", TEXT)
    symlink(d / "root" / "passwd.txt", "/etc/passwd")
    return [d / "root"]


def _tar_bomb(d: Path) -> list[Path]:
    return [write(d / "bomb.tar.gz", tar_of({"zeros.txt": b"\0" * (256 << 20), "after.txt": TEXT}))]


def _odd_entries(d: Path) -> list[Path]:
    """A folder of entries no walker should trip on: a self-looping link, a dangling link, a FIFO, and names with
    terminal escapes and a newline; one ordinary file beside them."""
    root = d / "root"
    write(root / "ok.txt", TEXT)
    write(root / "\x1b[31mred\x1b[0m.txt", TEXT)
    write(root / "two\nlines.txt", TEXT)
    symlink(root / "loop.txt", root / "loop.txt")
    symlink(root / "dangling.txt", root / "missing.txt")
    os.mkfifo(root / "pipe.txt")
    return [root]


def _sibling_blocks(n: int) -> bytes:
    body = "".join(f"<p>Item {i} was logged by the clerk.</p>" for i in range(n))
    return f"<html><body><article>{body}</article></body></html>".encode()


def _nested_divs(depth: int) -> bytes:
    return f"<html><body>{'<div>' * depth}<p>{TEXT.decode()}</p>{'</div>' * depth}</body></html>".encode()


CASES: dict[str, Callable[[Path], list[Path]]] = {
    "pdf FlateDecode bomb (4 GiB stream)": lambda d: [write(d / "bomb.pdf", flate_bomb_pdf(4096))],
    "zip bomb (512 MiB member)": _zip_bomb,
    "tar.gz bomb (256 MiB member)": _tar_bomb,
    "gzip of NUL blocks (1 GiB)": lambda d: [write(d / "zeros.gz", zero_tar_gz(1024))],
    "zip path traversal + symlink member": lambda d: [
        write(d / "evil.zip", zip_of({"../../evil.txt": TEXT, "ok.txt": TEXT}, symlinks={"passwd.txt": "/etc/passwd"}))
    ],
    "file link out of the root": _link_out_of_root,
    "markup names and titles": lambda d: [
        write(
            d / "m.zip",
            zip_of(
                {"[/red]x.html": b"<html><head><title>[/red]t</title></head><body><p>" + TEXT + b"</p></body></html>"}
            ),
        )
    ],
    "huge HTML page (6 MB)": lambda d: [write(d / "huge.html", huge_html(6_000_000))],
    "single-line HTML page (50 MB)": lambda d: [write(d / "line.html", single_line_html(50_000_000))],
    "UTF-8 page with one invalid byte": lambda d: [write(d / "bad-byte.html", utf8_page_with_one_bad_byte())],
    "stall: huge page, no HTML cut": lambda d: [write(d / "stall.html", huge_html(6_000_000))],
    "empty zip": lambda d: [write(d / "empty.zip", zip_of({}))],
    "gzip page bomb (1 GiB of text)": lambda d: [
        write(d / "page.txt.gz", gzip_of_repeated(b"All work. " * 6554, 16384))
    ],
    "invalid encoding: random bytes named .txt": lambda d: [write(d / "noise.txt", os.urandom(64 * 1024))],
    "links, FIFO, escape and newline names": _odd_entries,
    "100k sibling <p> blocks (4 MB page)": lambda d: [write(d / "blocks.html", _sibling_blocks(100_000))],
    "200k nested <div>s": lambda d: [write(d / "deep.html", _nested_divs(200_000))],
    "one 10 MB sentence": lambda d: [write(d / "endless.txt", b"word " * 2_000_000)],
    "2 MB of unpunctuated wrapped lines": lambda d: [
        write(d / "wrapped.txt", "\n".join(f"line {i} of a report typed without stops" for i in range(48_000)).encode())
    ],
}
NO_CUT = {"stall: huge page, no HTML cut", "100k sibling <p> blocks (4 MB page)"}


def _peak_rss_kib() -> int:
    """This process's own peak RSS (VmHWM). Not ru_maxrss: Linux carries that across exec, so it would include the
    bench parent's peak while it generated the inputs."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_case(name: str, inputs: list[Path], seconds: float, memory_mib: int) -> dict[str, object]:
    from docsum.config import Settings
    from docsum.db.migrate import upgrade
    from docsum.db.session import make_session_factory
    from docsum.ingest import sandbox
    from docsum.ingest.pipeline import ingest_paths

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'docsum.db'}"
        upgrade(url)
        overrides: dict[str, object] = {"max_extract_seconds": seconds, "max_extract_memory_mib": memory_mib}
        if name in NO_CUT:
            overrides["max_html_chars"] = 10**9
        settings = Settings(database_url=url, **overrides)
        factory = make_session_factory(settings)
        start = time.perf_counter()
        report = ingest_paths(factory, inputs, settings)
        wall = time.perf_counter() - start
        sandbox._pool.close_all()  # reaped: its peak memory shows in RUSAGE_CHILDREN
    from docsum.services.display import printable

    # Names and reasons may hold control characters (the escape-name case): shown escaped, as the CLI shows them.
    outcomes = [printable(f"{item.outcome}: {item.reason}" if item.reason else item.outcome) for item in report.items]
    return {
        "case": name,
        "outcome": "; ".join(outcomes) or "(nothing)",
        "wall_s": round(wall, 2),
        "worker_mib": round(_peak_rss_kib() / 1024),
        "extractor_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="max_extract_seconds")
    parser.add_argument("--memory-mib", type=int, default=2048, help="max_extract_memory_mib")
    parser.add_argument("--json", type=Path, help="write the rows here")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: ingest one generated case in this process
    parser.add_argument("--inputs", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.inputs or [], args.seconds, args.memory_mib)))
        return
    rows = []
    print(f"limits: {args.seconds:g} s, {args.memory_mib} MiB per extraction\n")
    print("| case | outcome | wall s | worker MiB | extractor MiB |\n|---|---|---|---|---|")
    for name, build in CASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            inputs = build(Path(tmp) / "in")
            argv = [
                sys.executable,
                __file__,
                "--case",
                name,
                "--seconds",
                str(args.seconds),
                "--memory-mib",
                str(args.memory_mib),
                "--inputs",
                *map(str, inputs),
            ]
            done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if done.returncode != 0:
            row = {
                "case": name,
                "outcome": f"bench error: {done.stderr.strip().splitlines()[-1:]}",
                "wall_s": None,
                "worker_mib": None,
                "extractor_mib": None,
            }
        else:
            row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"| {row['case']} | {row['outcome']} | {row['wall_s']} | {row['worker_mib']} | {row['extractor_mib']} |",
            flush=True,
        )
    if args.json:
        summary = {"seconds": args.seconds, "memory_mib": args.memory_mib, "rows": rows}
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
