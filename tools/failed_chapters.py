"""Say, in one line per chapter, which chapters failed to execute in the last book build, in which cell and why.

When a notebook fails while jupyter-book (myst-nb) executes it, myst-nb saves the Python traceback of the
failure in the build's reports folder, one file per page: ``_build/html/reports/<page>.err.log`` (for
``chapters/03_stealth_checks.ipynb``: ``reports/chapters/03_stealth_checks.err.log``). The traceback is
nbclient's, and it comes in two shapes:

* the cell raised: ``CellExecutionError: An error occurred while executing the following cell:``, the cell's
  whole source between two lines of dashes, what the cell printed, then the kernel's coloured traceback,
  whose last line is the error (``ZeroDivisionError: float division by zero``);
* the cell ran past the per-cell limit (``execute: timeout`` in ``_config.yml``): ``CellTimeoutError: A cell
  timed out while it was being executed, after N seconds.`` and a preview of the cell (its source, or for
  cells of 11 lines or more its first and last five lines written as Python lists).

This script reads those files and prints, for each, one line::

    book: FAILED chapters/03_stealth_checks.ipynb: code cell 13
    (id cell-26, 'filtering = observing.replace(mode=CheckMode.FILTER)'), line 4: ZeroDivisionError: ...

(on one line; for a timeout the error reads "CellTimeoutError: the cell ran past the per-cell limit of N s
(execute: timeout in _config.yml)"). The cell is found by matching the report's source against the notebook's
code cells: "code cell 13" counts code cells from the top, from 1, as Jupyter numbers them ([13]) when the
notebook runs top to bottom; the id is the cell's nbformat id; "line 4" is the line of that cell the error
came from. If the notebook changed since the build, the cell is named by its execution count (In [13]) and
its first line in the report instead.

myst-nb writes a report for each failure but never deletes one, so a report can outlive its failure:
scripts/book.sh empties the reports folder before each build. The full tracebacks stay in the reports
folder; this script only summarises them.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
REPORT_SUFFIX = ".err.log"
SOURCE_SUFFIXES = (".ipynb", ".md", ".py")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
EXECUTION_ERROR = "CellExecutionError: An error occurred while executing the following cell:"
TIMEOUT_ERROR = re.compile(r"CellTimeoutError: A cell timed out while it was being executed, after (\d+) seconds\.")
# The first frame of the kernel's traceback in the failing cell: "Cell In[12], line 4".
CELL_FRAME = re.compile(r"^Cell In\[(\d+)\], line (\d+)", re.MULTILINE)
# An exception line: "ZeroDivisionError: float division by zero", "module.Error: ...", or a bare "KeyboardInterrupt".
EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*: .*|[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Iteration):?)$")


@dataclass(frozen=True)
class Report:
    """What one report says: the error, the failing cell's source (or a preview), where in the cell."""

    error: str
    source: str | None = None  # the whole source of the cell that raised
    head: tuple[str, ...] = ()  # a timeout's preview of a long cell: its first lines ...
    tail: tuple[str, ...] = ()  # ... and its last lines
    execution_count: int | None = None  # In [n]
    line: int | None = None  # the line of the cell the error came from

    def first_line(self) -> str | None:
        lines = self.head or tuple((self.source or "").strip().splitlines())
        return lines[0] if lines else None


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def _fenced(text: str, start: int, fence: str) -> str | None:
    """The text between the first two lines that are exactly ``fence`` after ``start``."""
    opening = text.find("\n" + fence + "\n", start)
    if opening < 0:
        return None
    body = opening + len(fence) + 2
    closing = text.find("\n" + fence + "\n", body - 1)
    return None if closing < 0 else text[body:closing]


def _last_exception_line(text: str) -> str | None:
    lines = text.splitlines()
    candidates = [i for i, line in enumerate(lines) if EXCEPTION_LINE.match(line)]
    if not candidates:
        return None
    # IPython puts a blank line before the exception line; a message's own later lines have none.
    after_blank = [i for i in candidates if i > 0 and not lines[i - 1].strip()]
    return lines[(after_blank or candidates)[-1]].strip()


def parse_report(text: str) -> Report:
    """Read one ``.err.log`` report (ANSI colours allowed)."""
    text = strip_ansi(text).replace("\r\n", "\n")
    at = text.find(EXECUTION_ERROR)
    if at >= 0:
        source = _fenced(text, at, "-" * 18)
        kernel = text[at:]
        if source is not None:
            kernel = text[text.find(source, at) + len(source) :]
        frame = CELL_FRAME.search(kernel)
        error = _last_exception_line(kernel) or "CellExecutionError (no error line in the report)"
        return Report(
            error=error,
            source=source,
            execution_count=int(frame.group(1)) if frame else None,
            line=int(frame.group(2)) if frame else None,
        )
    timeout = TIMEOUT_ERROR.search(text)
    if timeout:
        limit = f"the per-cell limit of {timeout.group(1)} s (execute: timeout in _config.yml)"
        error = f"CellTimeoutError: the cell ran past {limit}"
        preview = _fenced(text, timeout.start(), "-" * 19)
        if preview is None or preview == "Cell contents not found.":
            return Report(error=error)
        parts = preview.split("\n...\n")
        if len(parts) == 2:
            try:
                head, tail = (ast.literal_eval(part) for part in parts)
            except (ValueError, SyntaxError):
                pass
            else:
                if isinstance(head, list) and isinstance(tail, list):
                    return Report(error=error, head=tuple(head), tail=tuple(tail))
        return Report(error=error, source=preview)
    return Report(error=_last_exception_line(text) or "unknown error (see the report)")


@dataclass(frozen=True)
class Cell:
    """A code cell of a notebook: its number among the code cells (from 1), its id and source."""

    number: int
    id: str | None
    source: str


def code_cells(notebook_path: Path) -> list[Cell]:
    notebook = nbformat.read(notebook_path, as_version=4)
    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    return [Cell(number, cell.get("id"), cell.source) for number, cell in enumerate(cells, start=1)]


def find_cell(cells: list[Cell], report: Report) -> Cell | None:
    """The code cell the report is about, or None if no cell matches (the notebook changed since)."""
    if report.source is not None:
        matches = [cell for cell in cells if cell.source.strip() == report.source.strip()]
    elif report.head:
        matches = []
        for cell in cells:
            lines = cell.source.strip().split("\n")
            if tuple(lines[: len(report.head)]) == report.head and tuple(lines[-len(report.tail) :]) == report.tail:
                matches.append(cell)
    else:
        return None
    if len(matches) > 1 and report.execution_count is not None:
        # nbclient counts executions over the non-empty code cells.
        executed = [cell for cell in cells if cell.source.strip()]
        if report.execution_count <= len(executed) and executed[report.execution_count - 1] in matches:
            return executed[report.execution_count - 1]
    return matches[0] if matches else None


def _shorten(line: str, width: int = 60) -> str:
    line = line.strip()
    return line if len(line) <= width else line[: width - 1] + "…"


def describe(page: str, report: Report, book: Path) -> str:
    """One line: the page's source file, the cell, the error."""
    source_file = next((book / (page + s) for s in SOURCE_SUFFIXES if (book / (page + s)).exists()), None)
    name = source_file.relative_to(book).as_posix() if source_file else page
    cell = None
    if source_file is not None and source_file.suffix == ".ipynb":
        try:
            cell = find_cell(code_cells(source_file), report)
        except (OSError, ValueError) as error:  # an unreadable notebook: say what the report says
            print(f"book: could not read {source_file}: {error}", file=sys.stderr)
    first = report.first_line()
    if cell is not None:
        where = f"code cell {cell.number} (id {cell.id}, {_shorten(cell.source.strip().splitlines()[0])!r})"
    elif report.execution_count is not None:
        where = f"the cell run as In [{report.execution_count}]" + (f" ({_shorten(first)!r})" if first else "")
    elif first:
        where = f"the cell beginning {_shorten(first)!r}"
    else:
        where = "cell unknown"
    if report.line is not None:
        where += f", line {report.line}"
    return f"book: FAILED {name}: {where}: {report.error}"


def reports(folder: Path) -> list[tuple[str, Path]]:
    """(page, report file) for every report in the folder, pages as Sphinx names them (no suffix)."""
    found = sorted(folder.rglob("*" + REPORT_SUFFIX)) if folder.is_dir() else []
    return [(path.relative_to(folder).as_posix()[: -len(REPORT_SUFFIX)], path) for path in found]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__,
        epilog=(
            "examples:\n"
            "  python scripts/failed_chapters.py                 # this repository's last build\n"
            "  python scripts/failed_chapters.py --book /tmp/b   # another book, its _build/html/reports\n"
            "  python scripts/failed_chapters.py out/_build/html/reports   # a build made with --path-output out\n"
            "\nThe exit status is 1 when it found a failed chapter, else 0."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "reports",
        nargs="?",
        type=Path,
        help="the build's reports folder (default: BOOK/_build/html/reports)",
    )
    parser.add_argument(
        "--book",
        type=Path,
        default=ROOT,
        help="the book's root folder, where the chapters' notebooks are (default: this repository)",
    )
    args = parser.parse_args(argv)
    book = args.book.resolve()
    folder = (args.reports or book / "_build" / "html" / "reports").resolve()
    found = reports(folder)
    if not found:
        print(
            f"book: no chapter failed to execute (no {REPORT_SUFFIX} reports in {folder}): no cell raised or ran"
            " past its time limit; the failure is in the build log (a warning made an error by -W, or a crash"
            " such as a kernel that died)"
        )
        return 0
    print(f"book: the full tracebacks are in {folder}/, one <page>{REPORT_SUFFIX} per failed chapter")
    for page, path in found:
        print(describe(page, parse_report(path.read_text(encoding="utf8", errors="replace")), book))
    return 1


if __name__ == "__main__":
    sys.exit(main())
