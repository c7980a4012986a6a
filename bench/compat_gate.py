"""The compatibility gate on hard cases: false alarms, unsafe verdicts, and its speed.

    .venv/bin/python bench/compat_gate.py [--syntactic]

Runs the checker on every case of tests/contracts/hard_cases.py (truth backed by payloads in
test_compat_hard.py) and prints, per mode, how many cases it classifies exactly, the false
alarms (a holding direction called breaking) and the unsafe verdicts (a breaking direction
called compatible; must be 0). The baseline beside it, measured in the same run, is a syntactic
gate in the style of schema registries: any change to a keyword other than a widening bound,
an added enum value or a relaxed `required` counts as breaking (`--syntactic` lists it per
case). Then it times `bizevents contracts check --against-git HEAD` on the shipped contracts
(the whole CLI process, best of 5) and the pure checker over every shipped payload schema.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.contracts.hard_cases import CASES, HELD_OUT, Hard  # noqa: E402

from bizevents.contracts import check_compatibility, load_contracts  # noqa: E402

BIZEVENTS = str(Path(sys.executable).parent / "bizevents")
WIDENING = {"maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum"}
NARROWING = {"minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum"}


def syntactic_ok(sub: Any, sup: Any) -> bool:
    """A registry-style structural rule: sup may only drop `required` names, add enum values,
    relax numeric bounds; anything else that differs is breaking."""
    if sub == sup:
        return True
    if not isinstance(sub, dict) or not isinstance(sup, dict):
        return sup is True or sup == {}
    for key in set(sub) | set(sup):
        a, b = sub.get(key), sup.get(key)
        if a == b:
            continue
        if key == "required" and set(b or []) <= set(a or []):
            continue
        if key == "enum" and isinstance(a, list) and isinstance(b, list) and all(x in b for x in a):
            continue
        if (key in WIDENING and b is None) or (key in WIDENING and a is not None and b >= a):
            continue
        if (key in NARROWING and b is None) or (key in NARROWING and a is not None and b <= a):
            continue
        if key == "properties" and isinstance(a, dict) and isinstance(b, dict):
            if all(n in b and syntactic_ok(a[n], b[n]) for n in a) and set(b) <= set(a):
                continue
            return False
        if key in ("items", "additionalProperties") and syntactic_ok(
            a if a is not None else True, b if b is not None else True
        ):
            continue
        return False
    return True


def verdicts(judge: Any, cases: list[Hard]) -> dict[str, Any]:
    exact = {"BACKWARD": 0, "FORWARD": 0, "FULL": 0}
    false_alarms: list[str] = []
    unsafe: list[str] = []
    for case in cases:
        b, f = judge(case, "backward"), judge(case, "forward")
        for direction, said, truth in (("backward", b, case.backward_ok),
                                       ("forward", f, case.forward_ok)):  # fmt: skip
            if truth and not said:
                false_alarms.append(f"{case.id}/{direction}")
            if said and not truth:
                unsafe.append(f"{case.id}/{direction}")
        exact["BACKWARD"] += b == case.backward_ok
        exact["FORWARD"] += f == case.forward_ok
        exact["FULL"] += (b and f) == (case.backward_ok and case.forward_ok)
    holding = sum(c.backward_ok for c in cases) + sum(c.forward_ok for c in cases)
    return {
        "cases": len(cases),
        "holding_directions": holding,
        "exact": exact,
        "false_alarms": len(false_alarms),
        "false_alarm_cases": false_alarms,
        "unsafe": unsafe,
    }


def checker(case: Hard, direction: str) -> bool:
    return check_compatibility(case.old, case.new, direction.upper()) == []


def syntactic(case: Hard, direction: str) -> bool:
    sub, sup = (case.old, case.new) if direction == "backward" else (case.new, case.old)
    return syntactic_ok(sub, sup)


def timings() -> dict[str, float]:
    contracts = ROOT / "contracts"
    cli = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run(
            [BIZEVENTS, "contracts", "check", "--against-git", "HEAD", str(contracts)],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        cli.append(time.perf_counter() - start)
    idle = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import bizevents.cli"], check=True)
        idle.append(time.perf_counter() - start)
    contract_set = load_contracts(contracts)
    start = time.perf_counter()
    for contract in contract_set:
        check_compatibility(contract.schema, json.loads(json.dumps(contract.schema)), "FULL")
    pure = time.perf_counter() - start
    return {"cli_check_s": min(cli), "cli_import_only_s": min(idle), "pure_full_all_s": pure}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--syntactic", action="store_true", help="list the baseline per case")
    parser.add_argument("--no-timing", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {}
    for label, cases in (("first batch", CASES), ("held out", HELD_OUT)):
        ours, base = verdicts(checker, cases), verdicts(syntactic, cases)
        result[label] = {"bizevents": ours, "syntactic": base}
        print(f"{label}: {len(cases)} hard cases, {ours['holding_directions']} holding directions")
        print(f"{'':24}{'bizevents':>12}{'syntactic':>12}")
        for mode in ("BACKWARD", "FORWARD", "FULL"):
            print(f"exact {mode:18}{ours['exact'][mode]:>12}{base['exact'][mode]:>12}")
        print(f"{'false alarms':24}{ours['false_alarms']:>12}{base['false_alarms']:>12}")
        print(f"{'unsafe verdicts':24}{len(ours['unsafe']):>12}{len(base['unsafe']):>12}")
        for name in ours["false_alarm_cases"]:
            print(f"  still unproven: {name}")
        for name in ours["unsafe"]:
            print(f"  UNSAFE: {name}")
        if args.syntactic:
            for name in base["unsafe"]:
                print(f"  syntactic unsafe: {name}")
    if not args.no_timing:
        result["timing"] = timings()
        t = result["timing"]
        print(
            f"contracts check (CLI, best of 5): {t['cli_check_s']:.3f}s "
            f"(python + import alone: {t['cli_import_only_s']:.3f}s); "
            f"pure FULL check of every shipped schema: {t['pure_full_all_s'] * 1000:.1f}ms"
        )
    out = Path(os.environ.get("BENCH_RESULTS_DIR") or ROOT / "bench" / "results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "compat_gate.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
