"""Run the anchoring evaluation: ``uv run python -m eval.anchoring [--cases N] ...``.

Prints the per-edit-kind table (voxpop beside the Hypothesis-like baseline) and the
timings; exits 1 if voxpop anchored any note to the wrong text.
"""

from __future__ import annotations

import argparse
import sys
import time

from . import evaluate, timing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="eval/run", description=__doc__)
    parser.add_argument("--cases", type=int, default=150, help="cases per edit kind (150)")
    parser.add_argument("--chains", type=int, default=150, help="chains of five edits (150)")
    parser.add_argument("--bystanders", type=int, default=3, help="other notes per case (3)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-timing", action="store_true", help="skip the timings")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    rows = evaluate.run(args.cases, args.chains, seed=args.seed, bystanders=args.bystanders)
    report, mis = evaluate.table(rows)
    print(f"Anchoring evaluation, seed {args.seed}: {args.cases} cases per edit kind, ", end="")
    print(f"{args.chains} chains of five, {args.bystanders} other notes per case")
    print("mis = anchored to the wrong text (the gate: 0); recall = anchored with IoU >= 0.5;")
    print("exact = both boundaries right; orP / orR = orphan precision / recall\n")
    print(report)
    print(f"\n({time.perf_counter() - started:.0f} s)")
    if not args.no_timing:
        print("\nTime per 1,000 notes (voxpop: one re-anchoring call, diff included)\n")
        print(timing.table())
    if mis:
        print(f"\nFAIL: voxpop mis-anchored {mis} notes", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
