"""Python's cycle collector paused around a task that builds a large heap of plain data.

The report and the reconcile build hundreds of thousands of small dicts and lists in one go. While
a heap grows, the collector scans all of it again each time it has grown by a quarter: on the store of a
20,000-people sync that was half of the report's time. The data they build has no reference cycles to find.
Collection resumes when the task returns, so whatever cycles it did leave are collected then."""
from __future__ import annotations

import functools
import gc


def collector_paused(func):
    @functools.wraps(func)
    def paused(*args, **kwargs):
        if not gc.isenabled():  # nested, or paused by the caller
            return func(*args, **kwargs)
        gc.disable()
        try:
            return func(*args, **kwargs)
        finally:
            gc.enable()
    return paused
