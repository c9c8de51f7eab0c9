"""`python -m conformance`: deberta_np against transformers' outputs.

    python -m conformance                     # the committed goldens (models, tokenizer, ...): no torch needed
    python -m conformance --live              # side by side with transformers (oracle extra): random configs
    python -m conformance --checkpoint DIR    # a downloaded checkpoint (the same check as `deberta-np verify --model DIR`)
    python -m conformance --device cuda       # the goldens on the GPU, plus float16 against float32
    python -m conformance --half              # float16 against float32 (max abs diff, PSNR) on any device

Prints one row per check. Exit status: 0 every check passed, 1 a check failed, 2 nothing could be checked.
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
        "conformance.tf_suite",
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
    parser.add_argument(
        "--published",
        metavar="NAME",
        help="--checkpoint: the published model it is (e.g. microsoft/deberta-base): compare its published slice",
    )
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
        from deberta_np.oracle import VerifyError, run_checks

        try:
            report = run_checks(args.checkpoint, device=args.device, published=args.published)
        except VerifyError as error:
            parser.exit(2, f"python -m conformance: error: {error}\n")
        print_table(report.rows)
        for note in report.notes:
            print(f"note: {note}")
        print(f"\n{summary(report.rows)} in {time.perf_counter() - started:.1f} s")
        if report.status == 2:
            print("nothing could be checked", file=sys.stderr)
        return report.status
    if args.live:
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
                suite.run_checks(device=args.device)
                if name in ("conformance.check", "conformance.tf_suite")
                else suite.run_checks()
            )
        if args.half or args.device != "cpu":
            from conformance.half import run_checks as half_checks

            rows.extend(half_checks(device=args.device))
    print_table(rows)
    print(f"\n{summary(rows)} in {time.perf_counter() - started:.1f} s")
    return 1 if any(not r["ok"] for r in rows) else 0 if rows else 2


def summary(rows: list[dict[str, Any]]) -> str:
    """ "N passed, N failed" and, where an optional reader is missing, ", N skipped"."""
    failed = sum(not r["ok"] for r in rows)
    skipped = sum(bool(r.get("skipped")) for r in rows)
    return f"{len(rows) - failed - skipped} passed, {failed} failed" + (
        f", {skipped} skipped" if skipped else ""
    )


if __name__ == "__main__":
    sys.exit(main())
