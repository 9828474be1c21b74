"""scripts/failed_chapters.py: one line per failed chapter, from the reports jupyter-book leaves.

The reports below are real: made by jupyter-book 1.0.4.post1 (myst-nb 1.4.0, jupyter-cache 1.0.1,
nbclient 0.11.0) on a probe book whose notebook ``chapters/broken.ipynb`` raises in its second code cell
(after printing) and whose ``sleepy.ipynb`` sleeps past ``execute: timeout`` in a cell of 12 lines (nbclient
then previews the cell as two Python lists) or of 4 lines (the source itself). ANSI colours kept.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tools import failed_chapters

RAISED = """\
Traceback (most recent call last):
  File "/work/main/.venv/lib/python3.11/site-packages/jupyter_cache/executors/utils.py", line 58, in single_nb_execution
    executenb(
  File "/work/main/.venv/lib/python3.11/site-packages/nbclient/client.py", line 1323, in execute
    return NotebookClient(nb=nb, resources=resources, km=km, **kwargs).execute()
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/work/main/.venv/lib/python3.11/site-packages/jupyter_core/utils/__init__.py", line 165, in wrapped
    return loop.run_until_complete(inner)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/root/.pyenv/versions/3.11.7/lib/python3.11/asyncio/base_events.py", line 653, in run_until_complete
    return future.result()
           ^^^^^^^^^^^^^^^
  File "/work/main/.venv/lib/python3.11/site-packages/nbclient/client.py", line 709, in async_execute
    await self.async_execute_cell(
  File "/work/main/.venv/lib/python3.11/site-packages/nbclient/client.py", line 1062, in async_execute_cell
    await self._check_raise_for_error(cell, cell_index, exec_reply)
  File "/work/main/.venv/lib/python3.11/site-packages/nbclient/client.py", line 918, in _check_raise_for_error
    raise CellExecutionError.from_cell_and_msg(cell, exec_reply_content)
nbclient.exceptions.CellExecutionError: An error occurred while executing the following cell:
------------------
print('computing the ratio')

def ratio(a, b):
    return a / b


ratio(values[0], values[1] - 2.0)
------------------

----- stdout -----
computing the ratio
------------------

\x1b[31m---------------------------------------------------------------------------\x1b[39m
\x1b[31mZeroDivisionError\x1b[39m                         Traceback (most recent call last)
\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[2]\x1b[39m\x1b[32m, line 7\x1b[39m
\x1b[32m      3\x1b[39m \x1b[38;5;28;01mdef\x1b[39;00m ratio(a, b):
\x1b[32m      4\x1b[39m     \x1b[38;5;28;01mreturn\x1b[39;00m a / b
\x1b[32m      5\x1b[39m\x20
\x1b[32m      6\x1b[39m\x20
\x1b[32m----> \x1b[39m\x1b[32m7\x1b[39m ratio(values[\x1b[32m0\x1b[39m], values[\x1b[32m1\x1b[39m] - \
\x1b[32m2.0\x1b[39m)

\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[2]\x1b[39m\x1b[32m, line 4\x1b[39m, in \x1b[36mratio\
\x1b[39m\x1b[34m(a, b)\x1b[39m
\x1b[32m      3\x1b[39m \x1b[38;5;28;01mdef\x1b[39;00m ratio(a, b):
\x1b[32m----> \x1b[39m\x1b[32m4\x1b[39m     \x1b[38;5;28;01mreturn\x1b[39;00m a / b

\x1b[31mZeroDivisionError\x1b[39m: float division by zero

"""

TIMEOUT_LONG_CELL = """\
Traceback (most recent call last):
  File "/work/main/.venv/lib/python3.11/site-packages/nbclient/client.py", line 782, in _async_poll_for_reply
    msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=new_timeout))
          ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/work/main/.venv/lib/python3.11/site-packages/jupyter_core/utils/__init__.py", line 214, in ensure_async
    result = await obj
             ^^^^^^^^^
  File "/work/main/.venv/lib/python3.11/site-packages/jupyter_client/channels.py", line 330, in get_msg
    raise Empty
_queue.Empty

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/work/main/.venv/lib/python3.11/site-packages/jupyter_cache/executors/utils.py", line 58, in single_nb_execution
    executenb(
  File "/work/main/.venv/lib/python3.11/site-packages/nbclient/client.py", line 1323, in execute
    return NotebookClient(nb=nb, resources=resources, km=km, **kwargs).execute()
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/work/main/.venv/lib/python3.11/site-packages/jupyter_core/utils/__init__.py", line 165, in wrapped
    return loop.run_until_complete(inner)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/root/.pyenv/versions/3.11.7/lib/python3.11/asyncio/base_events.py", line 653, in run_until_complete
    return future.result()
           ^^^^^^^^^^^^^^^
  File "/work/main/.venv/lib/python3.11/site-packages/nbclient/client.py", line 709, in async_execute
    await self.async_execute_cell(
  File "/work/main/.venv/lib/python3.11/site-packages/nbclient/client.py", line 1005, in async_execute_cell
    exec_reply = await self.task_poll_for_reply
                 ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/work/main/.venv/lib/python3.11/site-packages/nbclient/client.py", line 806, in _async_poll_for_reply
    error_on_timeout_execute_reply = await self._async_handle_timeout(timeout, cell)
                                     ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/work/main/.venv/lib/python3.11/site-packages/nbclient/client.py", line 856, in _async_handle_timeout
    raise CellTimeoutError.error_from_timeout_and_cell(
nbclient.exceptions.CellTimeoutError: A cell timed out while it was being executed, after 3 seconds.
The message was: Cell execution timed out.
Here is a preview of the cell contents:
-------------------
['# train a federation (stand-in: sleep)', 'rounds = []', 'rounds.append(0)', 'rounds.append(1)', 'rounds.append(2)']
...
['rounds.append(5)', 'rounds.append(6)', 'rounds.append(7)', 'time.sleep(10)', 'print(len(rounds))']
-------------------

"""

TIMEOUT_SHORT_CELL_END = """\
  File "/work/main/.venv/lib/python3.11/site-packages/nbclient/client.py", line 856, in _async_handle_timeout
    raise CellTimeoutError.error_from_timeout_and_cell(
nbclient.exceptions.CellTimeoutError: A cell timed out while it was being executed, after 2 seconds.
The message was: Cell execution timed out.
Here is a preview of the cell contents:
-------------------
# sleep longer than a tiny timeout
t0 = time.time()
time.sleep(5)
print(f'slept {time.time() - t0:.1f} s')
-------------------

"""


RAISING_CELL = (
    "print('computing the ratio')\n\ndef ratio(a, b):\n    return a / b\n\n\nratio(values[0], values[1] - 2.0)"
)
LONG_CELL = "\n".join(
    ["# train a federation (stand-in: sleep)", "rounds = []"]
    + [f"rounds.append({i})" for i in range(8)]
    + ["time.sleep(10)", "print(len(rounds))"]
)


def _notebook(path: Path, *code: str, ids: tuple[str, ...] = ()) -> None:
    """A notebook with a title, then the code cells, each after a markdown cell (so cell and code numbers differ)."""
    cells = [nbformat.v4.new_markdown_cell("# A chapter")]
    for i, source in enumerate(code):
        cells += [nbformat.v4.new_markdown_cell(f"Step {i}."), nbformat.v4.new_code_cell(source)]
        if i < len(ids):
            cells[-1].id = ids[i]
    notebook = nbformat.v4.new_notebook(cells=cells)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)


def test_a_raising_cell_gives_its_error_line_and_where_in_the_cell():
    report = failed_chapters.parse_report(RAISED)
    assert report.error == "ZeroDivisionError: float division by zero"
    assert report.source == RAISING_CELL  # not what it printed, not the kernel's traceback
    assert (report.execution_count, report.line) == (2, 7)  # "Cell In[2], line 7": the top frame, in the cell


def test_a_timeout_gives_the_limit_and_the_previewed_cell():
    long = failed_chapters.parse_report(TIMEOUT_LONG_CELL)
    assert long.error.startswith("CellTimeoutError:") and "3 s" in long.error
    assert long.head == tuple(LONG_CELL.split("\n")[:5]) and long.tail == tuple(LONG_CELL.split("\n")[-5:])
    short = failed_chapters.parse_report(TIMEOUT_SHORT_CELL_END)
    assert "2 s" in short.error and short.source.startswith("# sleep longer than a tiny timeout\nt0 = time.time()")


def test_one_line_per_failed_chapter_naming_the_code_cell(tmp_path, capsys):
    book = tmp_path / "book"
    _notebook(book / "chapters" / "broken.ipynb", "import math\nvalues = [1.0, 2.0]", RAISING_CELL, ids=("a", "b"))
    # Two cells share the long cell's first five lines; only the second ends like the preview.
    decoy = "\n".join([*LONG_CELL.split("\n")[:5], "print('done')"])
    _notebook(book / "sleepy.ipynb", "import time", decoy, LONG_CELL, ids=("c", "d", "e"))
    reports = book / "_build" / "html" / "reports"
    (reports / "chapters").mkdir(parents=True)
    (reports / "chapters" / "broken.err.log").write_text(RAISED)
    (reports / "sleepy.err.log").write_text(TIMEOUT_LONG_CELL)

    assert failed_chapters.main(["--book", str(book)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"book: the full tracebacks are in {reports}")
    assert lines[1] == (
        "book: FAILED chapters/broken.ipynb: code cell 2 (id b, \"print('computing the ratio')\"), line 7: "
        "ZeroDivisionError: float division by zero"
    )
    assert lines[2].startswith(
        "book: FAILED sleepy.ipynb: code cell 3 (id e, '# train a federation (stand-in: sleep)'):"
    )
    assert "CellTimeoutError" in lines[2]
    assert len(lines) == 3


def test_a_notebook_changed_since_the_build_is_named_by_the_report(tmp_path):
    book = tmp_path / "book"
    _notebook(book / "chapters" / "broken.ipynb", "values = [1.0, 2.0]", "ratio = 1")
    report = failed_chapters.parse_report(RAISED)
    line = failed_chapters.describe("chapters/broken", report, book)
    assert line.startswith(
        "book: FAILED chapters/broken.ipynb: the cell run as In [2] (\"print('computing the ratio')\")"
    )
    assert line.endswith(", line 7: ZeroDivisionError: float division by zero")


@pytest.mark.parametrize("make_folder", [False, True])
def test_no_reports_means_no_failed_chapter(tmp_path, capsys, make_folder):
    if make_folder:
        (tmp_path / "reports").mkdir()
    assert failed_chapters.main(["--book", str(tmp_path), str(tmp_path / "reports")]) == 0
    assert "no chapter failed to execute" in capsys.readouterr().out
