"""vPDQ lookups: the frame index against the exhaustive scan (hashbank.matching.vpdq).

    .venv/bin/python bench/vpdq_lookup.py [--videos 100] [--frames 600] [--query-frames 600]

`--videos` listed values of `--frames` random full-quality frames each (600: ten minutes at
one frame per second, as hosted hashing samples), and two queries of `--query-frames`: one
unrelated, one a copy of a listed value with 8 bits of every frame flipped (every frame a
near pair). Prints the CPU seconds of laying the listed values out with their frame index
(`ListedValues.build`, done for every lookup batch holding a vpdq query) and of comparing
each query with them (`compare_many`) through the index and by the scan (n × M frame
pairs), after checking that both give the same answer. Pure numpy: no database, no Django.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hashbank.matching.vpdq import ListedValues, compare_many
from hashfed_wire import vpdq


def random_value(rng: random.Random, frames: int) -> str:
    return json.dumps([f"{rng.getrandbits(256):064x},100,{i:.1f}" for i in range(frames)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=100)
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--query-frames", type=int, default=600)
    args = parser.parse_args(argv)
    rng = random.Random(7)
    listed = [(key, random_value(rng, args.frames)) for key in range(args.videos)]
    unrelated = vpdq.comparable_hashes(vpdq.parse(random_value(rng, args.query_frames)))
    copied = vpdq.comparable_hashes(vpdq.parse(listed[0][1]))[: args.query_frames]
    copied = [frame ^ 0xFF << (8 * (i % 32)) for i, frame in enumerate(copied)]
    started = time.process_time()
    values = ListedValues.build(listed)
    built = time.process_time() - started
    print(
        f"{len(values.words):,} listed frames in {len(values.keys):,} values: "
        f"laid out and indexed in {built:.2f} s CPU"
    )
    for name, query in (("unrelated", unrelated), ("a listed copy", copied)):
        spent = {}
        answers = {}
        for use_index in (True, False):
            started = time.process_time()
            answers[use_index] = compare_many(query, values, use_index=use_index)
            spent[use_index] = time.process_time() - started
        if answers[True] != answers[False]:
            raise SystemExit("the index and the scan disagree")
        pairs = len(query) * len(values.words)
        print(
            f"{name} query, {len(query):,} frames: index {spent[True]:.3f} s, "
            f"scan {spent[False]:.2f} s CPU ({1e9 * spent[False] / pairs:.1f} ns a frame pair), "
            f"{spent[False] / spent[True]:.0f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
