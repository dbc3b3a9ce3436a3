"""Reading a GGUF file's header (metadata and tensor directory) before any
weight: the runtime's bounded reader (engine/gguf/header.py) against the
`gguf` package's GGUFReader on the same file, in alternating runs.

    .venv/bin/python bench/gguf_header.py --runs 3    # SmolLM2 (node scripts/setup.mjs --models bench)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from common import MODELS, ROOT, Reporter, median, parse, parser

sys.path.insert(0, str(ROOT / "python"))

from mlx_serving.engine.gguf.header import read_header

SMOLLM2 = MODELS / "SmolLM2-135M-Instruct.Q4_1.gguf"


def ours(path: Path) -> float:
    started = time.perf_counter()
    header = read_header(path)
    elapsed = time.perf_counter() - started
    assert header.tensors
    return elapsed * 1000


def theirs(path: Path) -> float:
    import gguf

    started = time.perf_counter()
    reader = gguf.GGUFReader(path)
    elapsed = time.perf_counter() - started
    assert reader.tensors
    return elapsed * 1000


def main() -> None:
    args = parse(parser(__doc__.splitlines()[0], model=str(SMOLLM2), runs=3))
    path = Path(args.model)
    if not path.is_file():
        sys.exit(f"bench: no GGUF file at {path}; run node scripts/setup.mjs --models bench")
    report = Reporter("gguf_header", path.name, args.quick)
    mine, peer = [], []
    for _ in range(args.runs):
        mine.append(ours(path))
        peer.append(theirs(path))
    report.emit("header_ms", median(mine), "ms", baseline=median(peer),
                baseline_of="gguf.GGUFReader", ratio=median([a / b for a, b in zip(mine, peer, strict=False)]),
                target="<= 0.2", met=median(mine) <= 0.2 * median(peer), runs=mine,
                baseline_runs=peer)


if __name__ == "__main__":
    main()
