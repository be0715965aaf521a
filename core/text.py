"""Untrusted text made inert for the places that interpret it (Markdown, HTML).

Streamlit's ``st.markdown``, ``st.warning``, ``st.error``, ``st.info``,
``st.caption``, ``st.success`` and widget labels render Markdown: an image
(``![x](http://...)``) makes every visitor's browser fetch from another host, a
link can be disguised, ``:red[...]`` recolours text and ``$...$`` runs KaTeX.
Every value that comes from a URL, a request body, a file or another person
goes through ``markdown_literal`` before it is put into such a string.
"""

from __future__ import annotations

import html
import re

# Every ASCII punctuation character may be backslash-escaped in CommonMark, and an escaped one
# is always shown as itself. Escaping all of them (not a hand-picked few) also covers
# Streamlit's own extensions: colour and badge directives (:red[..]), emoji shortcodes (:smile:),
# material icons (:material/...:) and LaTeX ($..$).
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029]+")
# Two rewrites work on the parsed text, after escapes are gone, so escaping cannot stop them (seen
# in a browser, Streamlit 1.67): GFM turns bare "http://…", "www.…" and "a@b.example" into links,
# and Streamlit turns a free-standing "->", "<=", "--" … into arrows and signs. A word joiner
# (U+2060: no width, no break, not a space) inside each pattern stops both, and the text looks
# unchanged.
_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?i)(https?|ftp|mailto|xmpp|www)([:.])|(@)")
_SYMBOL_PAIR = re.compile(r"([-<>=~])(?=[-<>=~])")
# Four leading spaces (or a tab) would start a code block; an encoded first space does not.
_LEADING_BLANKS = re.compile(r"^[ \t]+")


def markdown_literal(text: object) -> str:
    """``text`` as Markdown that renders exactly as the characters given, on one line."""
    value = "" if text is None else str(text)
    value = _LINE_BREAKS.sub(" ", value)
    value = _AUTOLINK.sub(lambda m: m.group(1) + _JOINER + m.group(2) if m.group(1) else "@" + _JOINER, value)
    value = _SYMBOL_PAIR.sub(r"\1" + _JOINER, value)
    # An escaped "<" cannot open an HTML tag and an escaped "&" cannot start an entity.
    value = _PUNCTUATION.sub(r"\\\1", value)
    return _LEADING_BLANKS.sub(lambda m: "&#32;" * len(m.group(0).expandtabs(4)), value)


def html_literal(text: object) -> str:
    """``text`` safe inside HTML (folium popups and tooltips, the dossier), quotes included."""
    return html.escape("" if text is None else str(text), quote=True)
