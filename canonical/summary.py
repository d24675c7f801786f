"""The end of every command that runs a cycle: a few human lines on stderr, then one JSON line on stdout."""
from __future__ import annotations

import json
import sys


def print_summary(summary: dict, *, human: bool = True, out=None) -> None:
    if human:
        read = ", ".join(f"{system} {n}" for system, n in summary["read"].items())
        writes = ", ".join(f"{system} {n}" for system, n in summary["writes"].items())
        lines = [
            f"read: {read} ({summary['changed']} changed)",
            f"golden customers: {summary['customers']}",
            f"writes: {writes}; failed: {summary['failed_writes']}",
            f"quarantined this run: {summary['quarantined']}",
            f"report: {summary.get('report_html') or summary['report']}",
        ]
        print("\n".join(lines), file=sys.stderr)
    print(json.dumps(summary, separators=(",", ":")), file=out or sys.stdout, flush=True)


def print_plan(result: dict, *, human: bool = True, out=None) -> None:
    """A dry run's plan: per system, creates, updates and the fields they would touch."""
    if human:
        for system, plan in result["plan"].items():
            fields = ", ".join(f"{f} {n}" for f, n in sorted(plan["fields"].items())) or "nothing"
            print(f"{system}: {plan['creates']} creates, {plan['updates']} updates ({fields})", file=sys.stderr)
        print("dry run: nothing was queued or sent", file=sys.stderr)
    print(json.dumps(result, separators=(",", ":")), file=out or sys.stdout, flush=True)
