"""JSON uploads read a piece at a time: a list of reports, a GeoJSON FeatureCollection, JSON Lines.

``json.loads`` of a whole upload holds every record as Python objects at once (several times the
file's size). Here the text is decoded a megabyte at a time and the records are handed on one by
one (``Document``, ``lines``; ingest.readers stores them ``BATCH`` at a time): one item of a
top-level list, one feature of a FeatureCollection's ``features`` list, one line of JSON Lines.
Only one record, and the members of a top-level object other than ``features``, are ever parsed
whole.

Records keep their places as ``ingest.readers.records_from_json`` numbers them: record n is item
(or line) n; an item that is no report comes out as ``{}`` with a problem (n, why).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from pathlib import Path

from core.errors import UnreadableFileError

READ_BYTES = 1 << 20  # bytes decoded per read
BATCH = 20_000  # records handed on at once

_DECODER = json.JSONDecoder()
_LONG_NUMBER = 4300  # digits Python converts (sys.get_int_max_str_digits)
_CUT_SLACK = 8  # a value cut inside an escape (\\uXXXX) fails a few characters before the end
_SPACES = re.compile(r"[ \t\n\r]*")  # white space as JSON has it


def text_pieces(path: Path, encoding: str) -> Iterator[str]:
    """The file's text, ``READ_BYTES`` at a time (UnicodeDecodeError where it is not ``encoding``)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    with open(path, "rb") as fh:
        while block := fh.read(READ_BYTES):
            if text := decoder.decode(block):
                yield text
        if tail := decoder.decode(b"", final=True):
            yield tail


class _Text:
    """A window on the text with line numbers for messages; ``need`` reads on when it runs short."""

    def __init__(self, pieces: Iterator[str]) -> None:
        self._pieces = pieces
        self.buf = ""
        self.pos = 0
        self._line = 1  # line number at buf[0]
        self._column = 0  # characters of that line before buf[0]
        self.done = False

    def need(self, chars: int = 1) -> bool:
        """At least ``chars`` characters ahead of ``pos``, unless the text ends first. The pieces read
        are joined once (joining per piece would copy a long value once per megabyte)."""
        ahead = len(self.buf) - self.pos
        if ahead >= chars or self.done:
            return ahead >= chars
        pieces = []
        while ahead < chars:
            piece = next(self._pieces, None)
            if piece is None:
                self.done = True
                break
            pieces.append(piece)
            ahead += len(piece)
        if not pieces:  # nothing more: the window stays where it is (positions in it stay true)
            return False
        newlines = self.buf.count("\n", 0, self.pos)
        self._line += newlines
        last = self.buf.rfind("\n", 0, self.pos)
        self._column = self.pos - (last + 1) if newlines else self._column + self.pos
        self.buf = "".join([self.buf[self.pos:], *pieces])
        self.pos = 0
        return len(self.buf) >= chars

    def skip_space(self) -> str:
        """The next character that is not white space ("" at the end)."""
        while True:
            self.pos = _SPACES.match(self.buf, self.pos).end()
            if self.pos < len(self.buf) or not self.need():
                return self.buf[self.pos] if self.pos < len(self.buf) else ""

    def expect(self, char: str, what: str) -> None:
        if self.skip_space() != char:
            self.fail(what)
        self.pos += 1

    def value(self):
        """The next JSON value, read on until it is whole."""
        self.skip_space()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as e:
                # Cut off by the end of the text read so far (the error is at its end, or in a string
                # that runs to it): read on and decode again. An error further back is one: say it now.
                cut = e.pos >= len(self.buf) - _CUT_SLACK or e.msg.startswith("Unterminated string")
                if cut and self._more():
                    continue
                self.fail(e.msg.removesuffix(" at"), e.pos)
            except (RecursionError, ValueError) as e:  # nested too deep; an integer too long to convert
                # Read on only when the value runs near the end of the window (a long number cut there).
                if isinstance(e, ValueError) and len(self.buf) - self.pos < 2 * _LONG_NUMBER and self._more():
                    continue
                self.fail("nested too deeply" if isinstance(e, RecursionError) else "a number too long")
            if len(self.buf) - end < _CUT_SLACK and self._more():  # a number may go on ("37." + "5")
                continue
            self.pos = end
            return value

    def _more(self) -> bool:
        """Twice as much text ahead (a long value is decoded a few times, not once per megabyte);
        False at the end of the text."""
        if self.done:
            return False
        ahead = len(self.buf) - self.pos
        self.need(2 * ahead + READ_BYTES)
        return len(self.buf) - self.pos > ahead

    def fail(self, msg: str, at: int | None = None):
        at = self.pos if at is None else at
        line = self._line + self.buf.count("\n", 0, at)
        last = self.buf.rfind("\n", 0, at)
        column = at - last if last >= 0 else self._column + at + 1
        raise UnreadableFileError(f"not valid JSON: {msg} at line {line} column {column}")


def _items(text: _Text) -> Iterator:
    """The items of the list that starts at ``text.pos`` (its '[' not yet read)."""
    text.expect("[", "Expecting '['")
    if text.skip_space() == "]":
        text.pos += 1
        return
    while True:
        yield text.value()
        after = text.skip_space()
        text.pos += 1
        if after == "]":
            return
        if after != ",":
            text.pos -= 1
            text.fail("Expecting ',' delimiter")


class Document:
    """(record, problem) per item of a JSON document, as ``ingest.readers.records_from_json`` gives
    them; ``geojson`` says, once read, whether it was a GeoJSON Feature or FeatureCollection."""

    def __init__(self, pieces: Iterator[str], feature_record) -> None:
        self._text = _Text(pieces)
        self._feature_record = feature_record
        self.geojson = False

    def __iter__(self) -> Iterator[tuple[dict, str | None]]:
        text = self._text
        first = text.skip_space()
        if first == "[":
            for item in _items(text):
                yield (item, None) if isinstance(item, dict) else ({}, "not a JSON object")
        elif first == "{":
            yield from self._object()
        else:
            text.value()  # a scalar, or not JSON at all: the decoder names which
            raise UnreadableFileError("expected a JSON object, a list of objects or a GeoJSON FeatureCollection")
        if text.skip_space():
            text.fail("Extra data")

    def _object(self) -> Iterator[tuple[dict, str | None]]:
        """A top-level object: a FeatureCollection's features one at a time, else the object whole."""
        text = self._text
        text.expect("{", "Expecting '{'")
        members: dict = {}
        streamed = False
        while text.skip_space() != "}":
            if members or streamed:
                text.expect(",", "Expecting ',' delimiter")
                text.skip_space()
            if text.buf[text.pos:text.pos + 1] != '"':
                text.fail("Expecting property name enclosed in double quotes")
            key = text.value()
            text.expect(":", "Expecting ':' delimiter")
            if (key == "features" and not streamed and text.skip_space() == "["
                    and members.get("type", "FeatureCollection") == "FeatureCollection"):
                streamed = self.geojson = True
                for feature in _items(text):
                    yield self._feature_record(feature)
            elif key == "features" and streamed:
                raise UnreadableFileError("two 'features' lists in one FeatureCollection; keep one")
            else:
                members[key] = text.value()
        text.pos += 1
        if streamed:
            if members.get("type") != "FeatureCollection":
                raise UnreadableFileError("an object with a 'features' list must be a GeoJSON FeatureCollection "
                                          '("type": "FeatureCollection")')
            return
        if members.get("type") == "FeatureCollection":
            raise UnreadableFileError("FeatureCollection without a 'features' list")
        if members.get("type") == "Feature":
            self.geojson = True
            yield self._feature_record(members)
        else:
            yield members, None


_LINE_END = re.compile(r"\r\n|\r|\n")


def lines(pieces: Iterator[str]) -> Iterator[tuple[int, dict | None, str | None]]:
    """(line number, record, problem) per line of JSON Lines. A line ends with LF, CRLF or a lone CR
    (as ``str.splitlines`` has them, but not the Unicode separators a JSON string may hold)."""
    number, rest = 0, []
    for piece in pieces:
        if "\n" not in piece and "\r" not in piece:
            rest.append(piece)  # a long line: joined once it ends
            continue
        text = "".join([*rest, piece])
        held = text.endswith("\r")  # perhaps the first half of a CRLF
        *whole, tail = _LINE_END.split(text[:-1] if held else text)
        rest = [tail, "\r"] if held else [tail]
        for line in whole:
            number += 1
            yield _line(number, line)
    tail = "".join(rest)
    for line in _LINE_END.split(tail)[:-1] if tail.endswith(("\n", "\r")) else _LINE_END.split(tail):
        number += 1
        yield _line(number, line)


def _line(number: int, line: str):
    line = line.lstrip("\ufeff") if number == 1 else line
    if not line.strip():
        return number, None, None
    try:
        value = json.loads(line)
    except json.JSONDecodeError as e:
        return number, None, f"not JSON ({e.msg.removesuffix(' at')} at column {e.colno})"
    except RecursionError:
        return number, None, "not JSON (nested too deeply)"
    except ValueError:
        return number, None, "not JSON (a number too long)"
    if not isinstance(value, dict):
        return number, None, "each line must be one JSON object"
    return number, value, None
