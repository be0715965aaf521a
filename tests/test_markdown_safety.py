"""No page puts a value into Markdown without the one escaping helper (issue 11, item 3).

Streamlit renders Markdown in st.markdown, st.write, st.warning, st.error, st.info, st.success,
st.caption, st.toast, titles and headers, widget labels and help texts. A value from a URL, a body,
a file or another person interpolated there can show an image from another host, a disguised link,
HTML, colours or LaTeX (``/explore?brand=![x](http://evil.example/p.png)`` did). This test reads the
syntax tree of every module under ui/ and of streamlit_app.py and fails on such a call whose text is
built from a value that is not

- wrapped in ``plain(...)`` (``ui.common.plain`` = ``core.text.markdown_literal``),
- ``tr(...)`` of trusted parts, a string literal, or a join of trusted parts,
- formatted as a number or a date (``{n:,}``, ``{x:.0%}``, ``{t:%H:%M}``): such a format raises on a string,
- ``quote(...)`` for a URL part (only letters, digits and %-escapes come out), or a call that returns an
  int (``len``, ``min_reporters``, ``settings.get_int``),
- a local variable or a helper of the same module whose every assigned or returned value is trusted,
- on a line marked ``# md-trusted: <why>`` (operator configuration, never a visitor's text).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Calls whose every positional argument (and body=) is rendered as Markdown; the receiver may be
# st, st.sidebar, a column, a container, an expander ...
RENDERS = {"markdown", "write", "warning", "error", "info", "success", "caption", "toast", "title", "header",
           "subheader"}
# Widgets whose label (first argument or label=) is rendered as Markdown.
LABELLED = {"button", "download_button", "link_button", "page_link", "form_submit_button", "checkbox", "toggle",
            "radio", "selectbox", "multiselect", "select_slider", "slider", "text_input", "text_area",
            "number_input", "date_input", "time_input", "file_uploader", "camera_input", "color_picker",
            "pills", "segmented_control", "feedback", "metric", "expander", "popover", "status", "tabs", "spinner"}
# Calls whose text= keyword is Markdown but whose first argument is a number.
KEYWORDS_ONLY = {"progress"}
# Keywords rendered as Markdown on any of these calls.
MARKDOWN_KEYWORDS = {"help", "label", "body", "text"}
# Calls whose result is safe inside Markdown, whatever their argument: the helper itself, URL quoting
# (letters, digits and %-escapes only), calls that return an int (a count, k, a setting, minutes), and
# ui.common.refused_code_text (the project's own words around a whole number of minutes).
SAFE_CALLS = {"plain", "markdown_literal", "quote", "len", "min_reporters", "get_int", "wait_minutes",
              "refused_code_text"}
# Number and date formats: applied to a string they raise instead of passing it on.
# A bare width ({x:10}) or alignment passes a string through, so a grouping or a number type is needed;
# a date directive (%Y, %H) raises on a string too.
NUMERIC_SPEC = re.compile(r"[^a-zA-Z%<>^=]*([,_](\.\d+)?[bdeEfFgGnoxX%]?|(\.\d+)?[bdeEfFgGnoxX%])|.*%[a-zA-Z].*")
PRAGMA = "# md-trusted:"
# Receivers that are not Streamlit (a logger's .info, a parser's .error).
NOT_STREAMLIT = {"logger", "log", "logging", "parser", "warnings"}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    call: str
    value: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.call}(...) interpolates `{self.value}` without plain(...)"


def _func_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _parameters(function) -> set[str]:
    args = function.args
    return {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg] if a}


def _numeric_format(node: ast.FormattedValue) -> bool:
    """``{x:,}``, ``{x:.0%}``, ``{t:%H:%M}``: formats that raise on a string instead of passing it on."""
    spec = node.format_spec
    if not isinstance(spec, ast.JoinedStr) or not all(isinstance(v, ast.Constant) for v in spec.values):
        return False
    text = "".join(str(v.value) for v in spec.values)
    return bool(NUMERIC_SPEC.fullmatch(text))


def _receiver_root(node: ast.expr) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


class _Checker:
    """Finds untrusted values in one module's Markdown-rendering calls."""

    def __init__(self, source: str, path: str) -> None:
        self.tree = ast.parse(source)
        self.lines = source.splitlines()
        self.path = path
        self.helpers: dict[str, list[ast.AST]] = {}
        for node in ast.walk(self.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.helpers.setdefault(node.name, []).append(node)
        self.findings: list[Finding] = []

    # --- where a name gets its value -----------------------------------------------------

    @staticmethod
    def _binds_opaquely(node: ast.AST, name: str) -> bool:
        """``name`` bound by unpacking, a loop, a with, an import or an except: a value we cannot follow."""
        if isinstance(node, ast.Assign):
            return any(not isinstance(t, ast.Name) and any(isinstance(n, ast.Name) and n.id == name
                                                            for n in ast.walk(t)) for t in node.targets)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            return any((a.asname or a.name) == name for a in node.names)
        if isinstance(node, ast.ExceptHandler):
            return node.name == name
        targets = {ast.For: lambda n: [n.target], ast.comprehension: lambda n: [n.target],
                   ast.With: lambda n: [i.optional_vars for i in n.items if i.optional_vars]}.get(type(node))
        return bool(targets) and any(isinstance(t, ast.Name) and t.id == name
                                     for tg in targets(node) for t in ast.walk(tg))

    @staticmethod
    def _value_given(node: ast.AST, name: str) -> ast.expr | None:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node.value
        if isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.NamedExpr)) and isinstance(node.target, ast.Name) \
                and node.target.id == name:
            return node.value
        return None

    def _assigned(self, scope: ast.AST, name: str) -> list[ast.expr] | None:
        """Every value given to ``name`` in ``scope`` (not inside nested functions), or None when it is a
        parameter or also bound in a way we cannot follow."""
        if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and name in _parameters(scope):
            return None
        values: list[ast.expr] = []
        stack = list(ast.iter_child_nodes(scope))
        while stack:
            node = stack.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                continue
            if self._binds_opaquely(node, name):
                return None
            value = self._value_given(node, name)
            if value is not None:
                values.append(value)
            stack.extend(ast.iter_child_nodes(node))
        return values or None

    # --- is a value safe inside Markdown ----------------------------------------------------

    def trusted(self, node: ast.expr, scopes: list[ast.AST], seen: frozenset = frozenset()) -> ast.expr | None:
        """None when ``node`` is safe inside Markdown, else the first untrusted part."""
        if isinstance(node, ast.Constant):
            return None
        handler = {
            ast.JoinedStr: lambda n: self._all(n.values, scopes, seen),
            ast.FormattedValue: lambda n: None if _numeric_format(n) else self.trusted(n.value, scopes, seen),
            ast.IfExp: lambda n: self._all([n.body, n.orelse], scopes, seen),
            ast.List: lambda n: self._all(n.elts, scopes, seen),
            ast.Tuple: lambda n: self._all(n.elts, scopes, seen),
            ast.GeneratorExp: lambda n: self.trusted(n.elt, scopes, seen),
            ast.ListComp: lambda n: self.trusted(n.elt, scopes, seen),
            ast.BinOp: lambda n: self._binop(n, scopes, seen),
            ast.Call: lambda n: self._call(n, scopes, seen),
            ast.Name: lambda n: self._name(n, scopes, seen),
        }.get(type(node))
        return handler(node) if handler else node

    def _all(self, parts, scopes, seen) -> ast.expr | None:
        for part in parts:
            bad = self.trusted(part, scopes, seen)
            if bad is not None:
                return bad
        return None

    def _binop(self, node: ast.BinOp, scopes, seen) -> ast.expr | None:
        if not isinstance(node.op, (ast.Add, ast.Mod)):
            return node
        right = node.right.elts if isinstance(node.right, ast.Tuple) else [node.right]
        return self._all([node.left, *right], scopes, seen)

    def _call(self, node: ast.Call, scopes, seen) -> ast.expr | None:
        name = _func_name(node.func)
        if name in SAFE_CALLS:
            return None
        if name == "tr":
            return self._all(node.args, scopes, seen)
        if isinstance(node.func, ast.Attribute) and name in ("format", "join"):
            return self._all([node.func.value, *node.args, *(k.value for k in node.keywords)], scopes, seen)
        if isinstance(node.func, ast.Name) and name in self.helpers and name not in seen:
            for helper in self.helpers[name]:  # every function of that name in the module
                returns = [n.value for n in ast.walk(helper) if isinstance(n, ast.Return) and n.value is not None]
                bad = self._all(returns, [self.tree, helper], seen | {name})
                if bad is not None:
                    return bad
            return None
        return node

    def _name(self, node: ast.Name, scopes, seen) -> ast.expr | None:
        if node.id in seen:
            return None
        for scope in reversed(scopes):
            if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and node.id in _parameters(scope):
                return node
            values = self._assigned(scope, node.id)
            if values is not None:
                return self._all(values, scopes, seen | {node.id})
        return node
    # --- the calls --------------------------------------------------------------------------

    def _rendered_args(self, call: ast.Call) -> list[ast.expr]:
        name = call.func.attr if isinstance(call.func, ast.Attribute) else None
        if name is None or _receiver_root(call.func) in NOT_STREAMLIT:
            return []
        args: list[ast.expr] = []
        if name in RENDERS:
            args += [a for a in call.args if not isinstance(a, ast.Starred)]
        elif name in LABELLED and call.args:
            args.append(call.args[0])
        if name in RENDERS or name in LABELLED or name in KEYWORDS_ONLY:
            args += [k.value for k in call.keywords if k.arg in MARKDOWN_KEYWORDS]
        return args

    def run(self) -> list[Finding]:
        self._visit(self.tree, [self.tree])
        return self.findings

    def _visit(self, node: ast.AST, scopes: list[ast.AST]) -> None:
        for child in ast.iter_child_nodes(node):
            inner = scopes + [child] if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) \
                else scopes
            if isinstance(child, ast.Call) and not self._pragma(child):
                for arg in self._rendered_args(child):
                    bad = self.trusted(arg, inner)
                    if bad is not None:
                        self.findings.append(Finding(self.path, child.lineno, ast.unparse(child.func),
                                                     ast.unparse(bad)))
            self._visit(child, inner)

    def _pragma(self, call: ast.Call) -> bool:
        lines = self.lines[call.lineno - 1:(call.end_lineno or call.lineno)]
        return any(PRAGMA in line and line.split(PRAGMA, 1)[1].strip() for line in lines)


def unsafe_markdown(source: str, path: str = "<snippet>") -> list[Finding]:
    """Every Markdown-rendering call in ``source`` that interpolates an untrusted value."""
    return _Checker(source, path).run()


def page_modules() -> list[Path]:
    return sorted((ROOT / "ui").rglob("*.py")) + [ROOT / "streamlit_app.py"]


# --- the project's pages ------------------------------------------------------------------------

def test_every_page_escapes_interpolated_values():
    findings = [f for path in page_modules()
                for f in unsafe_markdown(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert not findings, "Wrap these values in ui.common.plain(...):\n" + "\n".join(map(str, findings))


def test_the_check_reads_every_page():
    names = {p.name for p in page_modules()}
    assert {"explore.py", "outages.py", "report.py", "outage_banner.py", "streamlit_app.py"} <= names


# --- the check itself, on snippets: bad ones must be caught, good ones let through --------------

BAD = [
    # the case: an error carrying a URL value, concatenated
    "st.warning(tr('무시: ', 'Ignored: ') + str(problem))",
    "st.warning(f\"No incident '{incident_id}'\")",
    "st.markdown('Brand: {}'.format(st.query_params['brand']))",
    "st.caption('Rows: %s' % name)",
    "st.error('File ' + uploaded.name)",
    "col.markdown(f'**{row[\"device_model\"]}**')",
    "st.sidebar.info(tr(f'{brand} 없음', f'no {brand}'))",
    "st.toast(f'{note}')",
    "st.subheader(title_text(row, areas, 'ko'))",
    "st.button(f'Delete {name}')",
    "st.text_input('Code', help=f'for {user}')",
    "cols[0].metric(f'{brand}', 3)",
    "st.write(', '.join(names))",
    "st.caption(f'{n:>10}')",  # alignment passes strings through
    "st.caption(f'{n:10}')",  # so does a bare width
    "msg = f'bad {value}'\nst.error(msg)",
    "def _line(x):\n    return f'**{x}**'\nst.markdown(_line(q))",
    "for name in names:\n    st.info(name)",
    "def show(incident_id):\n    st.warning(tr(f'{incident_id} 없음', f'No {incident_id}'))",
    "st.write(config['x'])  # md-trusted:",  # a pragma without a reason does not count
]

GOOD = [
    "st.warning(tr('무시: ', 'Ignored: ') + plain(str(problem)))",
    "st.warning(f\"No incident '{plain(incident_id)}'\")",
    "st.caption(f'{rows:,} rows · {share:.0%} · {when:%Y-%m-%d %H:%M} · {k:d}')",
    "st.info(tr('없음', 'none'))",
    "st.markdown('#### ' + tr('영향 지역', 'Affected area'))",
    "st.write(', '.join(plain(n) for n in names))",
    "label = tr('a', 'b')\nst.button(label)",
    "def _line(x):\n    return f'**{plain(x)}**'\nst.markdown(_line(q))",
    "st.caption(f'{len(rows)} rows · {x:.1f} · {y:,.0f} · {z:02d} · {r:g} · {t:%b %d}')",
    "st.markdown(f'[{tr(\"자세히\", \"Details\")}](/outages?incident={quote(i)})')",
    "st.markdown(f\"- [{s['title']}]({s['url']})\")  # md-trusted: operator's data/compensation.json",
    "logger.info(f'{anything}')",
    "st.dataframe(frame, key=f'{name}')",
    "st.text(f'{anything}')",
]


@pytest.mark.parametrize("snippet", BAD)
def test_check_catches_unwrapped_interpolation(snippet):
    assert unsafe_markdown(snippet), snippet


@pytest.mark.parametrize("snippet", GOOD)
def test_check_lets_escaped_or_trusted_text_through(snippet):
    assert not unsafe_markdown(snippet), unsafe_markdown(snippet)


def test_a_new_unwrapped_interpolation_in_a_page_fails(tmp_path):
    """A real page with one new line of the issue's kind is caught, naming file and line."""
    page = (ROOT / "ui" / "explore.py").read_text(encoding="utf-8")
    added = page + "\nst.warning(f\"Unknown brand {st.query_params.get('brand')}\")\n"
    findings = unsafe_markdown(added, "ui/explore.py")
    assert [f.line for f in findings] == [added.count("\n")]
    assert "st.query_params.get('brand')" in str(findings[0])
