"""Data-gap reports: what each sync run leaves for people to fix, as JSON (the source of truth, with a
versioned schema), one CSV per actionable list and a self-contained HTML page.

    snap = snapshot.read(session, run_id, now)       # one read of the store
    report = build(snap, summary)                     # pure: sections from the snapshot
    files = publish.render_files(mask_report(report)) # masked unless PII is asked for
"""
from canonical.report.assemble import SCHEMA_VERSION, build, gap_figures
from canonical.report.masking import mask_report
from canonical.report.schema import errors as schema_errors

__all__ = ["SCHEMA_VERSION", "build", "gap_figures", "mask_report", "schema_errors"]
