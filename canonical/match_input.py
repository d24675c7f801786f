"""Reading a records.jsonl file into a Features table for `concord match`, in several processes when
the file is large. Parsing and normalizing a million records took nearly half of a match's time, one
record at a time; so each process reads its own byte range of the file, interns its values in
vocabularies of its own, and hands back column arrays plus those vocabularies. The merge appends each
part's new values in the order the part met them, which is the order one process reading the whole
file would have met them: the table, its ids and its counts are the same however many processes read.

Malformed input stops the run: a line that is not a JSON object, lacks `source` or `source_id`, or
repeats a record already read raises InputError naming the line. Dropping such a line instead would
break the contract that every input record appears in the output once."""
from __future__ import annotations

import json
import multiprocessing
import os
from array import array
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from canonical.pii import mask
from canonical.reconcile.features import COLUMNS, Features, Vocab

PROGRESS_EVERY = 100_000
PART_BYTES = 16 << 20  # below this much input per process, starting processes costs more than it saves


class InputError(ValueError):
    """The input file breaks the records.jsonl contract at a given line."""


class LineError(ValueError):
    """What is wrong with a line, by its number within the part that read it (picklable)."""

    def __init__(self, line: int, reason: str):
        super().__init__(line, reason)
        self.line, self.reason = line, reason


@dataclass
class Part:
    lines: int                      # lines in the byte range, blank ones included
    keys: list
    claims: list
    row_lines: array                # each row's line number within the part
    columns: dict[str, bytes]       # int32 ids into the part's own vocabularies
    vocabs: list[tuple[list, array]]  # (values, counts) per distinct vocabulary, in VOCABS order


# the vocabularies a Features table holds, each once (the two email and the two phone columns share one)
VOCABS = tuple(name for name in COLUMNS if name not in ("email2", "phone2"))


def read_features(path: Path, say=None, processes: int | None = None) -> Features:
    """The file's records as a frozen Features table, in file order. `say` takes progress lines; in
    several processes it is called in each, so it must pickle (a module-level function or class)."""
    say = say or silent
    if processes is None:
        processes = max(1, min(os.cpu_count() or 1, path.stat().st_size // PART_BYTES))
    ranges = _ranges(path, processes)
    if len(ranges) > 1:
        say(f"match: reading in {len(ranges)} processes")
        context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
        with ProcessPoolExecutor(len(ranges), mp_context=context) as pool:
            futures = [pool.submit(_read_part, str(path), start, end, f"part {index + 1} of {len(ranges)}: ", say)
                       for index, (start, end) in enumerate(ranges)]
            parts = _collect(path, (future.result for future in futures))
    else:
        parts = _collect(path, [lambda: _read_part(str(path), 0, None, "", say)])
    features = _merge(parts)
    say(f"match: {len(features)} records read")
    return features.freeze()


def silent(message: str) -> None:
    """No progress lines (a function, not a lambda, so that it pickles)."""


def _collect(path: Path, results) -> list[Part]:
    """Each part in file order, with a LineError turned into an InputError naming the file's line."""
    parts, before = [], 0
    for result in results:
        try:
            part = result()
        except LineError as exc:
            raise InputError(f"{path}:{before + exc.line}: {exc.reason}") from None
        parts.append(part)
        before += part.lines
    seen = set(parts[0].keys)
    before = parts[0].lines
    for part in parts[1:]:
        if not seen.isdisjoint(part.keys):
            row = next(i for i, key in enumerate(part.keys) if key in seen)
            source, source_id = part.keys[row]
            raise InputError(f"{path}:{before + part.row_lines[row]}: record {source}:{mask(source_id)} "
                             "appears a second time")
        seen.update(part.keys)
        before += part.lines
    return parts


def _ranges(path: Path, processes: int) -> list[tuple[int, int | None]]:
    """Byte ranges that start at line starts; the last runs to the end of the file."""
    size = path.stat().st_size
    cuts = [0]
    with path.open("rb") as f:
        for i in range(1, processes):
            f.seek(size * i // processes)
            f.readline()  # to the start of the next line
            if f.tell() < size and f.tell() > cuts[-1]:
                cuts.append(f.tell())
    return [(start, end) for start, end in zip(cuts, cuts[1:] + [None])]


def _read_part(path: str, start: int, end: int | None, label: str, say) -> Part:
    features, seen, number = Features(), set(), 0
    row_lines = array("l")
    with open(path, "rb") as f:
        f.seek(start)
        position = start
        for raw in f:
            if end is not None and position >= end:
                break
            position += len(raw)
            number += 1
            if not raw.strip():
                continue
            record = parse(raw, number)
            key = (record["source"], str(record["source_id"]))
            if key in seen:
                raise LineError(number, f"record {key[0]}:{mask(key[1])} appears a second time")
            seen.add(key)
            features.add(record)
            row_lines.append(number)
            if len(features) % PROGRESS_EVERY == 0:
                say(f"match: {label}{len(features)} records read")
    return Part(number, features.keys, features.claims, row_lines,
                {name: features._rows[name].tobytes() for name in COLUMNS},
                [(features.vocab[name].values, features.vocab[name].counts) for name in VOCABS])


def parse(line: bytes | str, number: int) -> dict:
    try:
        record = json.loads(line)
    except UnicodeDecodeError:
        raise LineError(number, "not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise LineError(number, f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise LineError(number, "a record must be a JSON object")
    missing = [name for name in ("source", "source_id") if record.get(name) in (None, "")]
    if missing:
        raise LineError(number, f"required field {' and '.join(missing)} missing")
    return record


def _merge(parts: list[Part]) -> Features:
    """One Features table: the first part's vocabularies as they are, each later part's values looked
    up or appended in the order that part met them, and its column ids mapped onto them."""
    features = Features()
    for part in parts:
        mapping = {}
        for name, (values, counts) in zip(VOCABS, part.vocabs):
            mapping[name] = _absorb(features.vocab[name], values, counts)
        for name in COLUMNS:
            vocab = "email1" if name == "email2" else "phone1" if name == "phone2" else name
            local = np.frombuffer(part.columns[name], dtype=np.int32)
            # -1 (missing) stays -1: the mapping's last slot
            features._rows[name].frombytes(np.append(mapping[vocab], -1)[local].astype(np.int32).tobytes())
        features.keys.extend(part.keys)
        features.claims.extend(part.claims)
    return features


def _absorb(vocab: Vocab, values: list, counts: array) -> np.ndarray:
    """The id in `vocab` of each of a part's values, adding those it lacks and the part's counts."""
    found = np.array(vocab.ids_of(values), dtype=np.int64)  # interns, counting each value once
    # a part's values are distinct, so are their ids: no index repeats in this sum
    total = np.frombuffer(vocab.counts, dtype=np.dtype(vocab.counts.typecode))
    total[found] += np.frombuffer(counts, dtype=total.dtype) - 1
    return found
