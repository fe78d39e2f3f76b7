"""vPDQ lookups: what the brute-force comparison costs (hashbank.matching.vpdq).

    .venv/bin/python bench/vpdq_lookup.py [--videos 100] [--frames 600] [--query-frames 600]

`--videos` listed values of `--frames` random full-quality frames each (600: ten minutes at
one frame per second, as hosted hashing samples), one query of `--query-frames`. Prints the
CPU seconds of laying the listed values out (`ListedValues.build`, done for every lookup
batch holding a vpdq query) and of comparing the query with them (`compare_many`), and the
cost of one frame pair, from which a lookup of any size is estimated (it is n × M pairs).
Pure numpy: no database, no Django.
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
    query = vpdq.comparable_hashes(vpdq.parse(random_value(rng, args.query_frames)))
    started = time.process_time()
    values = ListedValues.build(listed)
    built = time.process_time()
    compare_many(query, values)
    compared = time.process_time()
    pairs = len(query) * len(values.words)
    print(
        f"{len(values.words):,} listed frames, {len(query):,} query frames: "
        f"build {built - started:.2f} s, compare {compared - built:.2f} s CPU, "
        f"{1e9 * (compared - built) / pairs:.1f} ns per frame pair"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
