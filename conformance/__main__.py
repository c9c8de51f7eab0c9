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
import sys
import textwrap
import time
from collections.abc import Callable
from typing import Any

from deberta_np.oracle import summary

WIDTHS = {"case": 30, "what": 40, "value": 12}  # with suite, limit and result: at most 120 columns


def print_table(rows: list[dict[str, Any]], failures_only: bool = False) -> None:
    """One line per check, at most 120 columns (long cells cut with '…'); a failure's full value follows it."""
    headers = ("result", "suite", "case", "what", "value", "limit")
    shown = [r for r in rows if not failures_only or not r["ok"]]
    table = [
        ("SKIP" if r.get("skipped") else "PASS" if r["ok"] else "FAIL", r["suite"],
         cut(r["case"], WIDTHS["case"]), cut(r["what"], WIDTHS["what"]), cut(str(r["value"]), WIDTHS["value"]),
         r["limit"])
        for r in shown
    ]  # fmt: skip
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *table)]
    for line, r in zip((headers, tuple("-" * w for w in widths), *table), (None, None, *shown)):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip())
        if r is not None and not r["ok"] and len(str(r["value"])) > WIDTHS["value"]:
            for part in textwrap.wrap(str(r["value"]), 112):
                print(f"        {part}")


def run_suite(run_checks: Callable[[], list[dict[str, Any]]]) -> int:
    """`python -m conformance.<suite>`: one suite's rows, printed as python -m conformance prints them; exit
    status 1 if a check failed."""
    rows = run_checks()
    print_table(rows)
    print(f"\n{summary(rows)}")
    return 1 if any(not r["ok"] for r in rows) else 0


def cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def committed_suites() -> dict[str, Callable[[str], list[dict[str, Any]]]]:
    """{suite name: run(device)} for the committed goldens. Imported here, so a missing or renamed suite fails
    loudly instead of being left out."""
    from conformance import check, pipelines_suite, tf_suite, tokenizer_suite, tokenizer_v2_suite

    return {
        "models": check.run_checks,
        "tensorflow": tf_suite.run_checks,
        "tokenizer": lambda device: tokenizer_suite.run_checks(),  # tokenizers run on the host
        "tokenizer-v2": lambda device: tokenizer_v2_suite.run_checks(),
        "pipelines": lambda device: pipelines_suite.run_checks(),
    }


def progress(message: str) -> None:
    """A status line on a terminal (stderr), redrawn in place; nothing when stderr is piped or a file."""
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\033[K{message}")
        sys.stderr.flush()


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
    parser.add_argument(
        "--failures", action="store_true", help="print only the failed checks (and the summary)"
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    if args.checkpoint:
        from deberta_np.oracle import VerifyError, run_checks

        try:
            report = run_checks(
                args.checkpoint, device=args.device, published=args.published, progress=progress
            )
        except VerifyError as error:
            parser.exit(2, f"python -m conformance: error: {error}\n")
        print_table(report.rows, args.failures)
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
        suites = committed_suites()
        for i, (name, run) in enumerate(suites.items(), 1):
            progress(f"[{i}/{len(suites)}] {name} suite...")
            rows.extend(run(args.device))
        progress("")
        if args.half or args.device != "cpu":
            from conformance.half import run_checks as half_checks

            rows.extend(half_checks(device=args.device))
    print_table(rows, args.failures)
    print(f"\n{summary(rows)} in {time.perf_counter() - started:.1f} s")
    return 1 if any(not r["ok"] for r in rows) else 0 if rows else 2


if __name__ == "__main__":
    sys.exit(main())
