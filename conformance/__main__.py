"""`python -m conformance`: deberta_np against transformers' outputs.

    python -m conformance                     # the committed goldens (models, tokenizer, ...): no torch needed
    python -m conformance --live              # side by side with transformers (oracle extra): random configs
    python -m conformance --checkpoint DIR    # your own downloaded checkpoint (e.g. microsoft/deberta-base)
    python -m conformance --device cuda       # the goldens on the GPU, plus float16 against float32
    python -m conformance --half              # float16 against float32 (max abs diff, PSNR) on any device

Prints one row per check and exits non-zero if any fails.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from typing import Any


def print_table(rows: list[dict[str, Any]]) -> None:
    headers = ("suite", "case", "what", "value", "limit", "result")
    table = [
        (
            r["suite"],
            r["case"],
            r["what"],
            r["value"],
            r["limit"],
            "SKIP" if r.get("skipped") else "PASS" if r["ok"] else "FAIL",
        )
        for r in rows
    ]
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *table)]
    for line in (headers, tuple("-" * w for w in widths), *table):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip())


def committed_suites() -> list[str]:
    return [
        "conformance.check",
        "conformance.tokenizer_suite",
        "conformance.tokenizer_v2_suite",
        "conformance.pipelines_suite",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--live", action="store_true", help="compare with transformers run now (oracle extra)"
    )
    parser.add_argument("--checkpoint", metavar="DIR", help="check a downloaded checkpoint directory")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument(
        "--examples", type=int, default=6, help="--live: random configs per head and version (default 6)"
    )
    parser.add_argument("--half", action="store_true", help="also report float16 against float32 (PSNR)")
    parser.add_argument("--no-base", action="store_true", help="--live: skip the deberta-base-shaped model")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    if args.checkpoint:
        from conformance.checkpoint import run_checks as checkpoint_checks

        rows = checkpoint_checks(args.checkpoint, device=args.device)
    elif args.live:
        from conformance.live import run_checks as live_checks

        rows = live_checks(examples=args.examples, base_shaped_model=not args.no_base, device=args.device)
    else:
        for name in committed_suites():
            try:
                suite = importlib.import_module(name)
            except ModuleNotFoundError as error:
                if error.name != name:
                    raise
                continue
            rows.extend(
                suite.run_checks(device=args.device) if name == "conformance.check" else suite.run_checks()
            )
        if args.half or args.device != "cpu":
            from conformance.half import run_checks as half_checks

            rows.extend(half_checks(device=args.device))
    print_table(rows)
    failed = sum(not r["ok"] for r in rows)
    skipped = sum(bool(r.get("skipped")) for r in rows)
    elapsed = time.perf_counter() - started
    print(f"\n{len(rows) - failed - skipped} passed, {failed} failed, {skipped} skipped in {elapsed:.1f} s")
    return 1 if failed or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
