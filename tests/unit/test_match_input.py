"""Reading records.jsonl in several processes: the same table as one process reads, and errors that
name the line of the whole file, whichever part met them."""
import json

import numpy as np
import pytest

from adapters.world import SYSTEMS, World
from bench.make_records import canonical
from canonical.match_input import InputError, read_features


@pytest.fixture(scope="module")
def records_file(tmp_path_factory):
    world = World(seed=11, people=400)
    lines = [json.dumps(canonical(view)) for system in SYSTEMS for view in world.views(system)]
    lines.insert(len(lines) // 3, "")  # a blank line is skipped but still counts as a line
    path = tmp_path_factory.mktemp("records") / "records.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, lines


@pytest.mark.parametrize("processes", [2, 3])
def test_several_processes_build_the_table_one_process_builds(records_file, processes):
    path, _ = records_file
    one, many = read_features(path, processes=1), read_features(path, processes=processes)
    assert len(one) == len(many) > 1000
    assert one.keys == many.keys and one.claims == many.claims
    for name in one.arrays:
        assert np.array_equal(one.arrays[name], many.arrays[name]), name
    for name, vocab in one.vocab.items():
        assert vocab.values == many.vocab[name].values, name
        assert list(vocab.counts) == list(many.vocab[name].counts), name
        assert vocab.ids == many.vocab[name].ids, name


def _with_line(lines, number, text, tmp_path):
    changed = list(lines)
    changed[number - 1] = text
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(changed) + "\n", encoding="utf-8")
    return path


def test_a_bad_line_in_a_later_part_is_named_by_its_line_in_the_file(records_file, tmp_path):
    _, lines = records_file
    number = len(lines) - 5  # in the last part
    path = _with_line(lines, number, '{"source": "zendesk", "source_id": ', tmp_path)
    with pytest.raises(InputError, match=rf":{number}: not JSON"):
        read_features(path, processes=2)
    path = _with_line(lines, number, '{"source": "zendesk"}', tmp_path)
    with pytest.raises(InputError, match=rf":{number}: required field source_id missing"):
        read_features(path, processes=2)


def test_a_record_repeated_in_another_part_is_named_where_it_repeats(records_file, tmp_path):
    _, lines = records_file
    number = len(lines) - 5
    path = _with_line(lines, number, lines[1], tmp_path)
    first = json.loads(lines[1])
    with pytest.raises(InputError, match=rf":{number}: record {first['source']}:.* appears a second time"):
        read_features(path, processes=2)
    with pytest.raises(InputError, match=rf":{number}: record {first['source']}:.* appears a second time"):
        read_features(path, processes=1)
