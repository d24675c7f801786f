"""`concord`: the one command line of the product. Commands that run a cycle end with one JSON line
on stdout; progress and human-readable lines go to stderr."""
from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from importlib import import_module

from adapters import registry
from adapters.base import AdapterError


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["sandbox"]:
        return _sandbox(argv[1:])
    args = _parser().parse_args(argv)
    args.out = sys.stdout
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # stdout is the JSON line's alone: Airflow, once imported, logs to whatever stdout is, so
    # everything but that line is sent to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        try:
            return args.func(args)
        except AdapterError as exc:
            print(f"concord: {exc}", file=sys.stderr)
            return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="concord", description="Concord: one golden customer across helpdesk, commerce, telephony and marketing.")
    sub = parser.add_subparsers(dest="command", required=True)
    sync = sub.add_parser("sync", help="run one sync cycle in this process")
    sync.add_argument("--json", action="store_true", help="print only the JSON summary line")
    sync.add_argument("--dry-run", action="store_true",
                      help="read and reconcile, then print what would be written; queue and send nothing")
    sync.add_argument("--retry-failed", action="store_true", help="put dead-lettered writes back in line first")
    sync.set_defaults(func=_sync)
    demo = sub.add_parser("demo", help="start the sandboxes and run the concord_sync DAG through Airflow")
    demo.add_argument("--customers", type=int, default=1000)
    demo.add_argument("--seed", type=int, default=42)
    demo.set_defaults(func=_demo)
    sub.add_parser("sandbox", help="serve a vendor sandbox: concord sandbox <system> --port P --seed S --customers N")
    erase = sub.add_parser("erase", help="erase a person in every system, the store and the landed data")
    erase.add_argument("--email")
    erase.add_argument("--phone")
    erase.set_defaults(func=_erase)
    report = sub.add_parser("report", help="print a run's data-gap report")
    report.add_argument("--run", help="run id (default: the latest finished run)")
    report.add_argument("--format", choices=["json", "html", "csv"], default="json",
                        help="json on stdout; html and csv print the stored files' paths, or write them to --out")
    report.add_argument("--show-pii", action="store_true", help="emails and phones unmasked (latest run; needs --out "
                                                                  "for html and csv)")
    # dest is out_dir: main() keeps args.out for the stream the JSON line goes to.
    report.add_argument("--out", dest="out_dir", help="directory to write the report's files into")
    report.set_defaults(func=_report)
    match = sub.add_parser("match", help="cluster a records.jsonl file offline into source,source_id,customer_id")
    match.add_argument("records", help="canonical source records, one JSON object a line")
    match.add_argument("--out", dest="clusters_csv", required=True, help="the clusters CSV to write")
    match.add_argument("--progress", action="store_true", help="progress lines on stderr")
    match.set_defaults(func=_match)
    explain = sub.add_parser("explain", help="every link and every field's lineage of one golden customer")
    explain.add_argument("customer_id")
    explain.set_defaults(func=_explain)
    link = sub.add_parser("link", help="force or forbid a link between two source records (SOURCE:ID)")
    decision = link.add_mutually_exclusive_group(required=True)
    decision.add_argument("--force", action="store_true", help="the two records are one person")
    decision.add_argument("--forbid", action="store_true", help="the two records are never one person")
    link.add_argument("records", nargs=2, metavar="SOURCE:ID")
    link.add_argument("--reason", default="", help="why, for the next person who reads it")
    link.set_defaults(func=_link)
    unlink = sub.add_parser("unlink", help="remove the override between two source records")
    unlink.add_argument("records", nargs=2, metavar="SOURCE:ID")
    unlink.set_defaults(func=_unlink)
    pools = sub.add_parser("pools", help="the Airflow pool of each system, sized from its vendor's rate limits: "
                                         "print them as JSON (`airflow pools import` format), create or check them")
    pools_action = pools.add_mutually_exclusive_group()
    pools_action.add_argument("--apply", action="store_true", help="create or resize them in Airflow")
    pools_action.add_argument("--check", action="store_true", help="exit 1 naming any that is missing or resized")
    pools.set_defaults(func=_pools)
    return parser


def _sync(args) -> int:
    from canonical.cycle import run_cycle
    from canonical.summary import print_plan, print_summary

    summary = run_cycle(dry_run=args.dry_run, retry_failed=args.retry_failed)
    if args.dry_run:
        print_plan(summary, human=not args.json, out=args.out)
        return 0
    print_summary(summary, human=not args.json, out=args.out)
    return 0 if summary["failed_writes"] == 0 else 1


def _demo(args) -> int:
    from canonical.demo import run_demo

    return run_demo(customers=args.customers, seed=args.seed, out=args.out)


def _report(args) -> int:
    from canonical.report.command import run

    if args.show_pii and args.format != "json" and not args.out_dir:
        print("concord: --show-pii writes html and csv only to --out DIR, never next to the masked files",
              file=sys.stderr)
        return 2
    return run(args.run, args.format, args.show_pii, args.out_dir, stdout=args.out)


def _match(args) -> int:
    import json
    from pathlib import Path

    from canonical.match import run
    from canonical.match_input import InputError

    try:
        counts = run(Path(args.records), Path(args.clusters_csv), progress=args.progress)
    except (InputError, OSError) as exc:
        print(f"concord match: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(counts), file=args.out, flush=True)
    return 0


def _explain(args) -> int:
    from canonical.explain import explain
    from canonical.store import migrate

    migrate()
    text = explain(args.customer_id)
    if text is None:
        print(f"concord: no customer {args.customer_id}", file=sys.stderr)
        return 1
    print(text, file=args.out, flush=True)
    return 0


def _link(args) -> int:
    from canonical.reconcile import overrides
    from canonical.store import migrate

    migrate()
    kind = "force" if args.force else "forbid"
    try:
        overrides.set_override(*map(overrides.parse_key, args.records), kind=kind, reason=args.reason)
    except ValueError as exc:
        print(f"concord link: {exc}", file=sys.stderr)
        return 2
    print(f"concord: {kind} {args.records[0]} ~ {args.records[1]}; applied from the next reconcile", file=sys.stderr)
    return 0


def _unlink(args) -> int:
    from canonical.reconcile import overrides
    from canonical.store import migrate

    migrate()
    try:
        removed = overrides.remove_override(*map(overrides.parse_key, args.records))
    except ValueError as exc:
        print(f"concord unlink: {exc}", file=sys.stderr)
        return 2
    print(f"concord: {'removed the' if removed else 'there was no'} override", file=sys.stderr)
    return 0 if removed else 1


def _erase(args) -> int:
    import json

    from canonical.erasure import erase
    from canonical.store import migrate

    migrate()
    try:
        summary = erase(email=args.email, phone=args.phone)
    except ValueError as exc:
        print(f"concord erase: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, separators=(",", ":")), file=args.out, flush=True)
    return 0 if all(r["failed"] == 0 for r in summary["erased"].values()) else 1


def _pools(args) -> int:
    import json

    from canonical import pools

    try:
        found = pools.apply() if args.apply else pools.check() if args.check else pools.definitions()
    except pools.PoolError as exc:
        print(f"concord pools: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(found, indent=2), file=args.out, flush=True)
    return 0


def _sandbox(argv: list[str]) -> int:
    if not argv or argv[0] not in registry.known():
        print(f"usage: concord sandbox <{'|'.join(registry.known())}> [--port P] [--seed S] [--customers N]",
              file=sys.stderr)
        return 2
    return import_module(f"adapters.{argv[0]}.sandbox").main(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
