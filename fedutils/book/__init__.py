"""The book's own code: its figures, display tables, recorded runs, network study, exercises and course table.

It sits on top of the library and nothing in :mod:`fedutils` imports it, so the
science never depends on a page (QuantEcon's lesson: the library must not be
restricted by its lectures). A chapter imports the science from :mod:`fedutils`
and its page's helpers from here::

    from fedutils import RunOptions, preset, run_experiment
    from fedutils.book import paper, plots, tables

* :mod:`~fedutils.book.plots` — every figure, by topic (drawing only);
* :mod:`~fedutils.book.tables` — runs side by side as a page shows them;
* :mod:`~fedutils.book.paper` — what the paper reports, for "paper vs this book";
* :mod:`~fedutils.book.recorded` — runs too slow for a build, recorded with their provenance;
* :mod:`~fedutils.book.network_study` — the appendix's study of CPU-friendly networks;
* :mod:`~fedutils.book.exercises` — each chapter's exercise checks (one module per chapter);
* :mod:`~fedutils.book.course` — the chapters' exercises as data (the course guide's table).
"""

from fedutils.book import paper, plots, recorded, tables

__all__ = ["paper", "plots", "recorded", "tables"]
