"""The Splink 5 (DuckDB) side of bench/match_vs_splink.py, run in a process of its own so that
its wall time and peak memory are measured alone. Configured as a careful user would: the same
cleaning as Concord's (folded names, lower-case emails, E.164 phones, ZIP5, expanded street
types), blocking on email, phone and names (plus address and birth date), u from random sampling,
m by EM on two blocking rules, term-frequency adjustments on names; predictions clustered at a
sweep of thresholds, one clusters CSV per threshold.

    .venv/bin/python bench/splink_run.py RECORDS.jsonl OUT_DIR
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import pyarrow as pa  # noqa: E402
import splink.comparison_library as cl  # noqa: E402
from splink import DuckDBAPI, Linker, SettingsCreator, block_on  # noqa: E402

from canonical.reconcile.features import extract  # noqa: E402

THRESHOLDS = (0.5, 0.8, 0.9, 0.95, 0.99, 0.999, 0.9999, 0.99999)
COLUMNS = ("given_name", "family_name", "email", "phone", "postcode", "address_line1", "birth_date")


def table(records: Path) -> pa.Table:
    """One row per record with Concord's own normalization, so that both tools see equally clean data."""
    columns = {name: [] for name in ("unique_id", "source", "source_id", *COLUMNS)}
    with records.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines):
            record = json.loads(line)
            values = extract(record)
            row = {"unique_id": number, "source": record["source"], "source_id": str(record["source_id"]),
                   "given_name": values["given"], "family_name": values["family"], "email": values["email1"],
                   "phone": values["phone1"], "postcode": values["postcode"], "address_line1": values["line1"],
                   "birth_date": values["birth"]}
            for name, value in row.items():
                columns[name].append(value if value not in ("", None) else None)
    return pa.table(columns)


def settings() -> SettingsCreator:
    return SettingsCreator(
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[
            block_on("email"), block_on("phone"), block_on("given_name", "family_name"),
            block_on("family_name", "postcode"), block_on("postcode", "address_line1"),
            block_on("birth_date", "family_name"),
        ],
        comparisons=[
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("family_name").configure(term_frequency_adjustments=True),
            cl.EmailComparison("email"),
            cl.ExactMatch("phone"),
            cl.DateOfBirthComparison("birth_date", input_is_string=True),
            cl.ExactMatch("postcode"),
            cl.LevenshteinAtThresholds("address_line1", [2]),
        ],
        retain_intermediate_calculation_columns=False,
    )


def run(records: Path, out_dir: Path) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    timings, started = {}, time.perf_counter()
    con = duckdb.connect()
    con.register("records_arrow", table(records))
    con.execute("CREATE TABLE records AS SELECT * FROM records_arrow")
    timings["load"] = time.perf_counter() - started
    db_api = DuckDBAPI(con)
    linker = Linker(db_api.register("records"), settings(), log_level=None)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("email"), block_on("phone")], recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("email"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("given_name", "family_name"))
    timings["train"] = time.perf_counter() - started - timings["load"]
    mark = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=min(THRESHOLDS))
    timings["predict"] = time.perf_counter() - mark
    timings["cluster"] = {}
    for threshold in THRESHOLDS:
        mark = time.perf_counter()
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold)
        path = out_dir / f"splink_{threshold}.csv"
        con.execute(f"COPY (SELECT r.source, r.source_id, c.cluster_id AS customer_id FROM {clusters.physical_name} c "
                    f"JOIN records r USING (unique_id)) TO '{path}' (HEADER, DELIMITER ',')")
        timings["cluster"][str(threshold)] = time.perf_counter() - mark
    return timings


if __name__ == "__main__":
    print(json.dumps(run(Path(sys.argv[1]), Path(sys.argv[2]))))
