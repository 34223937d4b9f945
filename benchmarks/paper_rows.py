"""The rows of Tables 1 and 2 of Mnih et al. 2014: one config in configs/paper/ each, with the published numbers.

The numbers of both paper versions are from ../shared/reference/paper-tables.md, with a confidence mark for each
(a "medium" one is printed as provisional). `benchmarks/reproduce.py` trains the rows, `results_table.py` prints them.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    name: str  # configs/paper/<name>.yaml
    table: str
    label: str  # the paper's wording
    nips: float | None = None  # test error %, NIPS 2014 version
    arxiv: float | None = None  # test error %, the earlier arXiv version (1406.6247v1)
    headline: bool = False  # trained with --seeds seeds; the others with one
    sure: str = "high/high"  # confidence in the NIPS / arXiv numbers (../shared/reference/paper-tables.md)
    paper: bool = True  # a row of the paper's tables; False: ours, beside them (no published number)


TABLES = {
    "1a": "Table 1a: 28x28 MNIST",
    "1b": "Table 1b: 60x60 translated MNIST",
    "2a": "Table 2a: 60x60 cluttered translated MNIST, 4 distractors",
    "2b": "Table 2b: 100x100 cluttered translated MNIST, 8 distractors",
}


def _ram(bench, table, glimpses, size, scales, nips, arxiv, sure="high/high", headline=False) -> Row:
    label = f"RAM, {glimpses} glimpses, {size}x{size}, {scales} scale{'s' if scales > 1 else ''}"
    return Row(f"{bench}_ram{glimpses}", table, label, nips, arxiv, headline, sure)


FC64, FC256, CONV = "FC, 2 layers (64 hiddens each)", "FC, 2 layers (256 hiddens each)", "Convolutional, 2 layers"
OURS_CNN = "Our CNN: 4 conv3x3/BN/ReLU blocks (32-256), global pooling"  # not in the paper


def _ours_cnn(bench: str, table: str) -> Row:
    return Row(f"{bench}_cnn", table, OURS_CNN, sure="-/-", paper=False)


# The published numbers of both versions, from ../shared/reference/paper-tables.md; a "medium" one is printed
# as provisional.
ROWS = [
    Row("mnist28_fc256", "1a", FC256, 1.69, 1.35, sure="high/medium"),
    Row("mnist28_cnn_paper", "1a", CONV, 1.21, 1.12, headline=True, sure="high/medium"),
    _ours_cnn("mnist28", "1a"),
    _ram("mnist28", "1a", 2, 8, 1, 3.79, 6.27),
    _ram("mnist28", "1a", 3, 8, 1, 1.51, 2.7, "high/medium"),
    _ram("mnist28", "1a", 4, 8, 1, 1.54, 1.73),
    _ram("mnist28", "1a", 5, 8, 1, 1.34, 1.55, "high/medium"),
    _ram("mnist28", "1a", 6, 8, 1, 1.12, 1.29),
    _ram("mnist28", "1a", 7, 8, 1, 1.07, 1.47, "high/medium", headline=True),
    Row("translated60_fc64", "1b", FC64, 6.42, 7.56, sure="high/medium"),
    Row("translated60_fc256", "1b", FC256, 2.63, 3.7, sure="high/medium"),
    Row("translated60_cnn_paper", "1b", CONV, 1.62, 2.31, headline=True, sure="high/medium"),
    _ours_cnn("translated60", "1b"),
    _ram("translated60", "1b", 4, 12, 3, 1.54, 2.29),
    _ram("translated60", "1b", 6, 12, 3, 1.22, 1.86),
    _ram("translated60", "1b", 8, 12, 3, 1.20, 1.84, headline=True),
    Row("cluttered60_fc64", "2a", FC64, 28.58, 28.96, sure="high/medium"),
    Row("cluttered60_fc256", "2a", FC256, 11.96, 13.2, sure="high/medium"),
    Row("cluttered60_cnn_paper", "2a", CONV, 8.09, 7.83, headline=True),
    _ours_cnn("cluttered60", "2a"),
    _ram("cluttered60", "2a", 4, 12, 3, 4.96, 7.1, "high/medium"),
    _ram("cluttered60", "2a", 6, 12, 3, 4.08, 5.88, "high/medium"),
    _ram("cluttered60", "2a", 8, 12, 3, 4.04, 5.23, headline=True),
    Row("cluttered60_ram8_random", "2a", "RAM, 8 random glimpses", 14.4, None),
    Row("cluttered100_cnn_paper", "2b", CONV, 14.35, 16.51, headline=True, sure="medium/high"),
    _ours_cnn("cluttered100", "2b"),
    _ram("cluttered100", "2b", 4, 12, 4, 9.41, 14.95, "medium/high"),
    _ram("cluttered100", "2b", 6, 12, 4, 8.31, 11.58, "medium/high"),
    _ram("cluttered100", "2b", 8, 12, 4, 8.11, 10.83, "medium/high", headline=True),
    Row("cluttered100_ram8_random", "2b", "RAM, 8 random glimpses", 28.4, None, sure="medium/medium"),
]


def select(patterns: str | None) -> list[Row]:
    """Rows whose name matches one of the comma-separated names or globs (all rows for None)."""
    if not patterns:
        return list(ROWS)
    wanted = [p.strip() for p in patterns.split(",") if p.strip()]
    for p in wanted:
        if not any(fnmatch.fnmatchcase(r.name, p) for r in ROWS):
            raise ValueError(f"--rows {p!r} matches no row: pick from {', '.join(r.name for r in ROWS)}")
    return [r for r in ROWS if any(fnmatch.fnmatchcase(r.name, p) for p in wanted)]
