"""JSON uploads read a piece at a time (ingest.json_stream) give exactly what parsing the whole
document gives (ingest.readers.records_from_json), wherever the pieces are cut, and the reader
never holds the document whole."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import UnreadableFileError
from ingest import json_stream, readers
from ingest.readers import _feature_record, read_file, read_into_raw, records_from_json
from store import ingest_sql

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                      max_leaves=8)
reports = st.dictionaries(st.sampled_from(["lat", "lon", "latitude", "carrier", "kind", "note", "통신사", "x"]),
                          values, max_size=5)
points = st.fixed_dictionaries({"type": st.just("Point"),
                                "coordinates": st.lists(st.floats(-200, 200, allow_nan=False), min_size=0, max_size=3)})
features = st.one_of(
    st.fixed_dictionaries({"type": st.just("Feature"), "geometry": st.one_of(points, st.none(), values),
                           "properties": st.one_of(reports, st.none())}),
    values,
)


@st.composite
def documents(draw):
    kind = draw(st.sampled_from(["list", "collection", "feature", "object"]))
    if kind == "list":
        return draw(st.lists(st.one_of(reports, values), max_size=6))
    if kind == "feature":
        return draw(features.filter(lambda f: isinstance(f, dict)))
    if kind == "object":
        return draw(reports)
    members = [("type", "FeatureCollection"), ("features", draw(st.lists(features, max_size=6)))]
    members += draw(st.lists(st.tuples(st.sampled_from(["name", "crs", "bbox"]), values), max_size=2))
    order = draw(st.permutations(members))
    return dict(order)


def streamed(text: str, read: int) -> tuple[list, list, bool]:
    pieces = (text[i:i + read] for i in range(0, len(text), read))
    document = json_stream.Document(pieces, _feature_record)
    items = list(document)
    records = [record for record, _ in items]
    problems = [(n, why) for n, (_, why) in enumerate(items, start=1) if why]
    return records, problems, document.geojson


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=documents(), read=st.integers(1, 40), indent=st.sampled_from([None, 0, 2]))
def test_read_in_pieces_is_read_whole(doc, read, indent):
    text = json.dumps(doc, ensure_ascii=read % 2 == 0, indent=indent)
    records, problems, geojson = streamed(text, read)
    assert (records, problems) == records_from_json(json.loads(text))
    assert geojson == readers._is_geojson(json.loads(text))


@pytest.mark.parametrize("text, message", [
    ('[{"lat": 1},', "not valid JSON"),
    ('[{"lat": 1} {"lat": 2}]', "Expecting ',' delimiter at line 1 column 13"),
    ('[{"lat": 1}]\n\n  x', "Extra data at line 3 column 3"),
    ("42", "expected a JSON object"),
    ('{"type": "FeatureCollection", "features": 3}', "without a 'features' list"),
    ('{"features": [], "type": "Topology"}', "must be a GeoJSON FeatureCollection"),
])
def test_broken_documents_say_where(text, message):
    with pytest.raises(UnreadableFileError, match=message):
        streamed(text, 3)


def test_a_long_document_is_read_in_batches_never_whole(tmp_path, monkeypatch):
    """A FeatureCollection of 2,500 features, read 4 KB at a time, reaches the scratch store in
    batches of 1,000: the reader never decodes the file as one text nor parses it as one document."""
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [127.0 + i / 1e5, 37.5]},
                 "properties": {"carrier": "KT", "kind": "no_data", "observed_at": "2021-10-25 11:20", "n": i}}
                for i in range(2500)]
    path = tmp_path / "big.geojson"
    path.write_text(json.dumps({"features": features, "type": "FeatureCollection"}), encoding="utf-8")
    monkeypatch.setattr(json_stream, "READ_BYTES", 4096)
    monkeypatch.setattr(json_stream, "BATCH", 1000)
    batches = []
    append = ingest_sql.append_records
    monkeypatch.setattr(ingest_sql, "append_records",
                        lambda cur, frame: (batches.append(len(frame)), append(cur, frame)))
    monkeypatch.setattr(json, "loads", _never)
    monkeypatch.setattr(readers, "decode_text", _never)
    cur = ingest_sql.scratch_cursor()
    try:
        info = read_into_raw(cur, path)
        rows = cur.execute("SELECT row, lon FROM raw ORDER BY row").fetchall()
    finally:
        cur.close()
    assert batches == [1000, 1000, 500]
    assert info.fmt == "geojson" and {"lat", "lon", "carrier"} <= info.present and info.ignored_columns == ["n"]
    assert len(rows) == 2500 and rows[0] == (1, "127.0") and rows[-1][0] == 2500


def _never(*args, **kwargs):
    raise AssertionError("the whole document was read at once")


def test_cp949_json_lines_keep_their_numbers(tmp_path):
    path = tmp_path / "reports.jsonl"
    lines = ['{"위도": 37.5, "경도": 127.0, "통신사": "KT", "유형": "통화끊김", "일시": "2021-10-25 11:20"}',
             "", "not json", '[1]',
             '{"위도": 37.6, "경도": 127.1, "통신사": "SKT", "유형": "먹통", "일시": "2021-10-25 11:21"}']
    path.write_bytes("\n".join(lines).encode("cp949"))
    raw = read_file(path)
    assert raw.fmt == "jsonl" and list(raw.row_numbers) == [1, 5]
    assert list(raw.frame["carrier"]) == ["KT", "SKT"]
    assert [n for n, _ in raw.unparsed] == [3, 4]


def test_a_json_string_holding_a_line_separator_stays_one_line(tmp_path):
    """U+2028 is allowed raw inside a JSON string; JSON Lines split on newlines only."""
    path = tmp_path / "reports.jsonl"
    path.write_text('{"lat": 37.5, "lon": 127.0, "carrier": "KT", "kind": "no_data", '
                    '"observed_at": "2021-10-25 11:20", "note": "a\u2028b"}\n', encoding="utf-8")
    raw = read_file(path)
    assert list(raw.row_numbers) == [1] and raw.unparsed == []


def test_an_early_mistake_is_said_without_reading_the_rest(monkeypatch):
    """A syntax error near the start fails there; only a value cut by the end of what was read reads on."""
    monkeypatch.setattr(json_stream, "READ_BYTES", 64)
    read = []

    def pieces():
        yield '[{"a": tru}, '
        for _ in range(1000):
            read.append(1)
            yield '{"b": 1}, ' * 100

    with pytest.raises(UnreadableFileError, match="Expecting value at line 1 column 8"):
        list(json_stream.Document(pieces(), _feature_record))
    assert len(read) <= 2


def test_a_long_value_is_joined_once_not_once_per_piece(monkeypatch):
    """One 2,000-piece string: the characters copied into the window stay a few times the text's length
    (it grows by doubling), not the square of it (a copy of the whole window per piece)."""
    copied = []

    def counting(self, name, value):
        if name == "buf":
            copied.append(len(value))
        object.__setattr__(self, name, value)

    monkeypatch.setattr(json_stream._Text, "__setattr__", counting)
    monkeypatch.setattr(json_stream, "READ_BYTES", 64)
    text = '[{"note": "' + "a" * 128_000 + '", "lat": 1}]'
    records, problems, _ = streamed(text, 64)
    assert records == [{"note": "a" * 128_000, "lat": 1}] and problems == []
    assert sum(copied) < 5 * len(text), sum(copied)


@pytest.mark.parametrize("text, message", [
    ("[" * 100_000, "nested too deeply"),
    ('{"lat": 1' + "0" * 5000 + "}", "a number too long"),
    ('{"type": "FeatureCollection", "features": [], "features": []}', "two 'features' lists"),
])
def test_documents_python_cannot_hold_are_refused_clearly(text, message):
    with pytest.raises(UnreadableFileError, match=message):
        streamed(text, 1000)


def test_json_lines_end_with_lf_crlf_or_a_lone_cr():
    text = '{"a": 1}\r{"b": 2}\r\n{"c": 3}\n\n{"d": "x\u2028y"}\n' + "[" * 50_000 + "\n"
    for read in (1, 2, 5, 1000):
        got = list(json_stream.lines(text[i:i + read] for i in range(0, len(text), read)))
        assert [(n, r) for n, r, _ in got if r] == [(1, {"a": 1}), (2, {"b": 2}), (3, {"c": 3}), (5, {"d": "x\u2028y"})]
        assert [(n, why) for n, _, why in got if why] == [(6, "not JSON (nested too deeply)")]


@pytest.mark.parametrize("name, text, fmt", [
    ("one.json", '{\n  "lat": 37.5,\n  "lon": 127.0\n}\n', "json"),  # one report, pretty-printed
    ("lines.json", '{"lat": 37.5}\n{"lat": 37.6}\n', "jsonl"),  # JSON Lines named .json
    ("fc.json", '{"features": [' + '{"type": "Feature"},' * 500 + '{"type": "Feature"}], "type": "FeatureCollection"}',
     "json"),  # "FeatureCollection" far from the start
])
def test_the_format_of_a_json_file_starting_with_a_brace(tmp_path, name, text, fmt):
    from ingest.readers import detect_format

    assert detect_format(tmp_path / name, text[:65536]) == fmt


@pytest.mark.parametrize("text", [
    '[\n  {"lat": 1},\n  {"lat": ',  # an error at the very end of the text
    '[\n  {"lat": 1},\n  {"a": "x\ty"}\n]',  # a control character near the end
    '{\n  "lat": 1\n  "lon": 2\n}',
])
def test_an_error_near_the_end_names_the_line_and_column_json_does(text):
    try:
        json.loads(text)
    except json.JSONDecodeError as e:
        expected = f"{e.msg.removesuffix(' at')} at line {e.lineno} column {e.colno}"
    for read in (3, 7, 1 << 20):
        with pytest.raises(UnreadableFileError) as refused:
            streamed(text, read)
        assert str(refused.value) == f"not valid JSON: {expected}", (read, str(refused.value))


@pytest.mark.parametrize("text", ['[1.5, 2e5, -0.25, 1E+5]', '{"lat": 37.5665, "lon": 126.978}',
                                  '{"type": "FeatureCollection", "features": [1.5]}'])
def test_a_number_cut_after_its_point_or_exponent_is_read_whole(text):
    for read in range(1, 8):
        assert streamed(text, read)[:2] == records_from_json(json.loads(text)), read


@pytest.mark.parametrize("name, text, fmt", [
    ("bad_first.json", '{"lat": 37.5, "note": "unterminated}\n{"lat": 37.6}\n', "jsonl"),  # one bad line, rest kept
    ("feature.json", '{"type": "Feature", "geometry": {"type": "Point", "coordinates": [127, 37.5]}, '
                     '"properties": {}}\n', "json"),
])
def test_a_first_line_decides_json_lines_only_when_it_is_no_document(tmp_path, name, text, fmt):
    from ingest.readers import detect_format

    assert detect_format(tmp_path / name, text) == fmt
