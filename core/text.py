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


def markdown_literal(text: object) -> str:
    """``text`` as Markdown that renders exactly as the characters given, on one line."""
    value = "" if text is None else str(text)
    value = _LINE_BREAKS.sub(" ", value)
    # An escaped "<" cannot open an HTML tag and an escaped "&" cannot start an entity.
    return _PUNCTUATION.sub(r"\\\1", value)


def html_literal(text: object) -> str:
    """``text`` safe inside HTML (folium popups and tooltips, the dossier), quotes included."""
    return html.escape("" if text is None else str(text), quote=True)
