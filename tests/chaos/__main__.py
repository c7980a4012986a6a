"""`python -m tests.chaos`: run the chaos scenario and print the checker's table.

Exits 1 on any loss, per-key order violation, rolled-back event published, missing effect, or
effect duplicated despite the inbox.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from .scenario import Options, Outcome, run


def render(outcome: Outcome) -> str:
    r = outcome.report
    lines = [f"chaos run: {outcome.seconds:.0f} s, faults "
             + ", ".join(f"{k} {v}" for k, v in sorted(outcome.faults.items()))]  # fmt: skip
    width = max(len(name) for name, _ in r.rows())
    lines += [f"  {name:<{width}}  {value:>8,}" for name, value in r.rows()]
    lines.append(f"  {'redeliveries after each graceful stop':<{width}}  "
                 f"{outcome.graceful_redeliveries}")  # fmt: skip
    lines.append(f"  {'writer connection errors (in doubt, resolved by ledger)':<{width}}  "
                 f"{outcome.writer_errors:>8,}")  # fmt: skip
    lines.append(f"  {'seconds each SIGTERM took to exit (None: killed at 60 s)':<{width}}  "
                 f"{outcome.term_exits}")  # fmt: skip
    lines.append(f"  {'gateway requests sent again (no answer or 5xx)':<{width}}  "
                 f"{outcome.gateway_retries:>8,}")  # fmt: skip
    lines.append(f"  {'gateway refusals (4xx)':<{width}}  {len(outcome.gateway_refused):>8,}")
    lines.append(f"  {'processes that exited by themselves (restarted)':<{width}}  "
                 f"{len(outcome.crashed):>8,}")  # fmt: skip
    lines += [f"  ! {e}" for e in r.examples]
    lines += [f"  exited by itself: {name}" for name in outcome.crashed[:10]]
    lines += [f"  gateway refused: {text}" for text in outcome.gateway_refused[:5]]
    lines.append("FAILED" if r.failed or outcome.gateway_refused else "OK")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--faults", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--fault-every", type=float, default=3.0, help="mean seconds between faults"
    )
    parser.add_argument(
        "--kinds", default=",".join(Options.kinds),
        help="faults to draw from, comma separated; repeat a kind to draw it more often",
    )  # fmt: skip
    args = parser.parse_args()
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    unknown = set(kinds) - set(Options.kinds)
    if unknown:
        parser.error(f"unknown fault kinds: {', '.join(sorted(unknown))}")
    outcome = asyncio.run(run(Options(events=args.events, faults=args.faults, seed=args.seed,
                                      fault_every=args.fault_every, kinds=kinds)))  # fmt: skip
    print(render(outcome))
    sys.exit(1 if outcome.report.failed or outcome.gateway_refused else 0)


if __name__ == "__main__":
    main()
