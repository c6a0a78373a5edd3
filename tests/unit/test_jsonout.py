"""`ls --json` and `export` print what `json.dumps(…, indent=2, ensure_ascii=False)` prints, in pieces."""

import json

from hypothesis import given
from hypothesis import strategies as st

from grokdash import jsonout

exact_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.text(st.characters(exclude_categories=["Cs"]))
)


def nested(scalars):
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=20,
    )


def printed(items):
    return b"".join(jsonout.array_pieces(items))


@given(st.lists(st.dictionaries(st.text(max_size=8), nested(exact_scalars), max_size=5), max_size=6))
def test_the_pieces_are_the_bytes_the_standard_library_prints(items):
    assert printed(items) == (json.dumps(items, indent=2, ensure_ascii=False) + "\n").encode()


@given(st.lists(nested(exact_scalars | st.floats(allow_nan=False, allow_infinity=False)), max_size=6))
def test_numbers_read_back_as_the_same_numbers(items):
    # orjson writes 1e-5 where Python writes 1e-05: the same number.
    assert json.loads(printed(items)) == items


def test_an_empty_list_is_an_empty_array():
    assert printed([]) == b"[]\n"


def test_more_items_than_one_piece_holds_are_all_printed_once():
    items = [{"id": f"task-{n}"} for n in range(jsonout.CHUNK * 2 + 3)]
    pieces = list(jsonout.array_pieces(items))
    assert len(pieces) == 3
    assert json.loads(b"".join(pieces)) == items


def test_what_orjson_refuses_is_still_valid_json_that_reads_back_the_same():
    items = [{"label": "bad \udcff byte"}, {"created": 10**30}, {"label": "fine ☀"}]
    text = printed(items)
    text.decode("utf-8")  # valid UTF-8, nothing lost on a terminal or in a pipe
    assert json.loads(text) == items
