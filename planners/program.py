"""A restricted interpreter for plans written as a short Python program over the tools.

The planner may write its plan once, as a few lines of Python (``planning = "program"``; ``agent.graph`` runs it):

    shots = detect_shots()
    text = read_text(span={"start_s": 0, "end_s": 5})

The program is never given to Python's ``exec``. It is parsed with ``ast`` and checked against
an allow-list before anything runs (``check_program``), then walked node by node by
``ProgramInterpreter``, which can only: bind names, build lists/tuples/dicts, index them, do
arithmetic and comparisons, branch, loop over a finite sequence, and call the tools and a few
pure builtins (``SAFE_BUILTINS``). There is no ``import``, no attribute access (so no path from
a value to its class, module or ``__builtins__``), no function or class definitions, no
``while``, no ``open``; the tools are the only way to the outside. Every run is bounded in
statements, loop iterations and the size of values built by ``*``.

Refused programs run nothing (``ProgramRefused``). A program that fails while running
(unknown function, wrong types, a limit) stops there and keeps what it already did:
``ProgramRun.error`` says where and why, and the tool results gathered so far stand.
"""

from __future__ import annotations

import ast
import operator
import re
from dataclasses import dataclass, field
from typing import Any, Callable

#: The pure builtins a program may call, besides the tools.
SAFE_BUILTINS: dict[str, Callable[..., Any]] = {
    "len": len, "min": min, "max": max, "sum": sum, "abs": abs, "round": round, "sorted": sorted,
    "str": str, "int": int, "float": float, "bool": bool, "list": list,
}
#: ``print`` is allowed (small code models write it out of habit); what it prints is kept in
#: ``ProgramRun.printed``, never on a real stdout.
PRINT = "print"
MAX_STATEMENTS = 200
MAX_LOOP_ITERATIONS = 100
#: Longest string or list ``*`` or ``+`` may build, and the largest integer arithmetic may
#: reach (``"a" * 10**9`` or ``x = x * x`` in a loop must not exhaust memory).
MAX_VALUE_LENGTH = 10_000
MAX_INTEGER = 10**18
MAX_FORMAT_WIDTH = 100

_STATEMENTS = (ast.Module, ast.Assign, ast.Expr, ast.If, ast.For, ast.Pass)
_EXPRESSIONS = (
    ast.Constant, ast.Name, ast.List, ast.Tuple, ast.Dict, ast.Call, ast.keyword, ast.Subscript, ast.Slice,
    ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.JoinedStr, ast.FormattedValue,
    ast.Load, ast.Store,
)
_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
_COMPARE = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
    ast.GtE: operator.ge, ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_OPERATORS = {*_BINARY, *_UNARY, *_COMPARE, ast.And, ast.Or}
_REFUSED_WHY = {
    ast.Import: "import is not allowed", ast.ImportFrom: "import is not allowed",
    ast.Attribute: "attribute access (x.y) is not allowed; index results with x['key']",
    ast.FunctionDef: "defining functions is not allowed", ast.AsyncFunctionDef: "defining functions is not allowed",
    ast.Lambda: "lambda is not allowed", ast.ClassDef: "defining classes is not allowed",
    ast.While: "while loops are not allowed; loop with for over a list",
    ast.With: "with is not allowed", ast.Try: "try is not allowed", ast.Global: "global is not allowed",
    ast.Nonlocal: "nonlocal is not allowed", ast.Delete: "del is not allowed",
    ast.Pow: "** is not allowed",
}


class ProgramRefused(ValueError):
    """The program uses something outside the allow-list; nothing of it was run."""


class ProgramStopped(RuntimeError):
    """The program failed while running; what ran before stands."""


@dataclass
class ProgramRun:
    """What running a program did: the tool calls in order (name, keyword arguments), what it
    printed, and the one-line error it stopped on (None when it ran to the end)."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    printed: list[str] = field(default_factory=list)
    error: str | None = None


ToolFunction = Callable[[str, dict[str, Any]], Any]


def check_program(source: str, tool_names: set[str] | frozenset[str]) -> ast.Module:
    """Parse ``source`` and check every node against the allow-list.

    Raises ProgramRefused with a one-line reason (and line number) for a syntax error, a
    forbidden construct, a dunder name or a call to anything but a tool, a safe builtin or
    ``print``.
    """
    try:
        tree = ast.parse(source, mode="exec")
    except SyntaxError as exc:
        raise ProgramRefused(f"line {exc.lineno}: not valid Python ({exc.msg})") from None
    callable_names = set(tool_names) | set(SAFE_BUILTINS) | {PRINT}
    for node in ast.walk(tree):
        line = getattr(node, "lineno", None)
        where = f"line {line}: " if line else ""
        if type(node) in _REFUSED_WHY:
            raise ProgramRefused(where + _REFUSED_WHY[type(node)])
        if isinstance(node, (ast.operator, ast.unaryop, ast.cmpop, ast.boolop)):
            if type(node) not in _OPERATORS:
                raise ProgramRefused(f"{where}the operator {type(node).__name__} is not allowed")
            continue
        if not isinstance(node, _STATEMENTS + _EXPRESSIONS):
            raise ProgramRefused(f"{where}{type(node).__name__} is not allowed in a plan")
        if isinstance(node, ast.Name) and node.id.startswith("__"):
            raise ProgramRefused(f"{where}the name {node.id} is not allowed")
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute):
                raise ProgramRefused(where + _REFUSED_WHY[ast.Attribute])
            if not isinstance(node.func, ast.Name):
                raise ProgramRefused(f"{where}only tools and {', '.join(sorted(SAFE_BUILTINS))} can be called")
            if node.func.id not in callable_names:
                raise ProgramRefused(f"{where}{node.func.id}() is not a tool; tools: {', '.join(sorted(tool_names))}")
            if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
                raise ProgramRefused(f"{where}*args and **kwargs are not allowed")
        if isinstance(node, ast.For) and node.orelse:
            raise ProgramRefused(f"{where}for ... else is not allowed")
        if isinstance(node, (ast.Assign, ast.For)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names = target.elts if isinstance(target, ast.Tuple) else [target]
                if not all(isinstance(n, ast.Name) for n in names):
                    raise ProgramRefused(f"{where}assign only to plain names (x = ..., a, b = ...)")
    return tree


class ProgramInterpreter:
    """Runs checked programs. ``call_tool(name, kwargs)`` runs one tool and returns its value;
    ``parameters`` maps each tool to its argument names in order, so positional arguments
    (``read_text({"start_s": 0, "end_s": 5})``) are bound to them."""

    def __init__(self, call_tool: ToolFunction, parameters: dict[str, list[str]]):
        self.call_tool = call_tool
        self.parameters = parameters

    def run(self, source: str) -> ProgramRun:
        """Check and run ``source``. Raises ProgramRefused (nothing ran); any failure while
        running ends the run with ``ProgramRun.error`` set."""
        tree = check_program(source, frozenset(self.parameters))
        run = ProgramRun()
        state = _State(run=run, names={})
        try:
            self._block(tree.body, state)
        except ProgramStopped as exc:
            run.error = str(exc)
        except RecursionError:
            run.error = "the program nests too deeply"
        return run

    # --- statements ---------------------------------------------------------------------------

    def _block(self, body: list[ast.stmt], state: "_State") -> None:
        for node in body:
            state.statements += 1
            if state.statements > MAX_STATEMENTS:
                raise ProgramStopped(f"line {node.lineno}: more than {MAX_STATEMENTS} statements ran")
            try:
                self._statement(node, state)
            except ProgramStopped:
                raise
            except Exception as exc:  # a type error, a missing key: the program's fault, said in one line
                raise ProgramStopped(f"line {node.lineno}: {type(exc).__name__}: {exc}") from None

    def _statement(self, node: ast.stmt, state: "_State") -> None:
        if isinstance(node, ast.Expr):
            self._eval(node.value, state)
        elif isinstance(node, ast.Assign):
            value = self._eval(node.value, state)
            for target in node.targets:
                self._bind(target, value, state)
        elif isinstance(node, ast.If):
            self._block(node.body if self._eval(node.test, state) else node.orelse, state)
        elif isinstance(node, ast.For):
            items = self._eval(node.iter, state)
            if not isinstance(items, (list, tuple, dict, str)):
                raise ProgramStopped(f"line {node.lineno}: for can loop over a list, tuple, dict or string only")
            for i, item in enumerate(items):
                if i >= MAX_LOOP_ITERATIONS:
                    raise ProgramStopped(f"line {node.lineno}: a loop ran more than {MAX_LOOP_ITERATIONS} times")
                self._bind(node.target, item, state)
                self._block(node.body, state)
        # ast.Pass: nothing

    def _bind(self, target: ast.expr, value: Any, state: "_State") -> None:
        if isinstance(target, ast.Name):
            state.names[target.id] = value
            return
        values = list(value)
        if len(values) != len(target.elts):
            raise ProgramStopped(f"line {target.lineno}: cannot unpack {len(values)} values into {len(target.elts)} names")
        for name, item in zip(target.elts, values):
            state.names[name.id] = item

    # --- expressions --------------------------------------------------------------------------

    def _eval(self, node: ast.expr, state: "_State") -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in state.names:
                return state.names[node.id]
            raise ProgramStopped(f"line {node.lineno}: the name {node.id} is not defined")
        if isinstance(node, ast.List):
            return [self._eval(e, state) for e in node.elts]
        if isinstance(node, ast.Tuple):
            return tuple(self._eval(e, state) for e in node.elts)
        if isinstance(node, ast.Dict):
            if any(k is None for k in node.keys):
                raise ProgramStopped(f"line {node.lineno}: ** in a dict is not allowed")
            return {self._key(k, state): self._eval(v, state) for k, v in zip(node.keys, node.values)}
        if isinstance(node, ast.Subscript):
            return self._eval(node.value, state)[self._index(node.slice, state)]
        if isinstance(node, ast.BinOp):
            left, right = self._eval(node.left, state), self._eval(node.right, state)
            _check_size(node.op, left, right, node.lineno)
            value = _BINARY[type(node.op)](left, right)
            if isinstance(value, int) and abs(value) > MAX_INTEGER:
                raise ProgramStopped(f"line {node.lineno}: a number larger than {MAX_INTEGER:.0e} was computed")
            return value
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](self._eval(node.operand, state))
        if isinstance(node, ast.BoolOp):
            value = None
            for operand in node.values:
                value = self._eval(operand, state)
                if isinstance(node.op, ast.And) and not value or isinstance(node.op, ast.Or) and value:
                    return value
            return value
        if isinstance(node, ast.Compare):
            left = self._eval(node.left, state)
            for op, comparator in zip(node.ops, node.comparators):
                right = self._eval(comparator, state)
                if not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            return self._eval(node.body if self._eval(node.test, state) else node.orelse, state)
        if isinstance(node, ast.JoinedStr):
            return "".join(str(self._eval(v, state)) for v in node.values)
        if isinstance(node, ast.FormattedValue):
            value = self._eval(node.value, state)
            spec = self._eval(node.format_spec, state) if node.format_spec is not None else ""
            if any(int(width) > MAX_FORMAT_WIDTH for width in re.findall(r"\d+", spec)):
                raise ProgramStopped(f"line {node.lineno}: format widths above {MAX_FORMAT_WIDTH} are not allowed")
            return format(value, spec)
        if isinstance(node, ast.Call):
            return self._call(node, state)
        raise ProgramStopped(f"line {node.lineno}: {type(node).__name__} cannot be evaluated")  # checked away

    def _key(self, node: ast.expr, state: "_State") -> Any:
        """A dict key; a bare name that is not bound is its own text, so ``{start_s: 0, end_s: 5}``
        (how the tool signatures write an object's fields) means ``{"start_s": 0, "end_s": 5}``."""
        if isinstance(node, ast.Name) and node.id not in state.names:
            return node.id
        return self._eval(node, state)

    def _index(self, node: ast.expr, state: "_State") -> Any:
        if isinstance(node, ast.Slice):
            parts = (node.lower, node.upper, node.step)
            return slice(*(self._eval(p, state) if p is not None else None for p in parts))
        return self._eval(node, state)

    def _call(self, node: ast.Call, state: "_State") -> Any:
        name = node.func.id
        args = [self._eval(a, state) for a in node.args]
        kwargs = {k.arg: self._eval(k.value, state) for k in node.keywords}
        if name == PRINT:
            state.run.printed.append(" ".join(str(a) for a in args))
            return None
        if name in SAFE_BUILTINS:
            return SAFE_BUILTINS[name](*args, **kwargs)
        names = self.parameters[name]
        if len(args) > len(names):
            raise ProgramStopped(f"line {node.lineno}: {name}() takes at most {len(names)} arguments ({', '.join(names)})")
        for arg_name, value in zip(names, args):
            if arg_name in kwargs:
                raise ProgramStopped(f"line {node.lineno}: {name}() got {arg_name} twice")
            kwargs[arg_name] = value
        state.run.calls.append((name, kwargs))
        try:
            return self.call_tool(name, kwargs)
        except ProgramStopped as exc:  # a budget the caller enforces: say where the program was
            raise ProgramStopped(f"line {node.lineno}: {exc}") from None


@dataclass
class _State:
    run: ProgramRun
    names: dict[str, Any]
    statements: int = 0


def _check_size(op: ast.operator, left: Any, right: Any, line: int) -> None:
    """Refuse a ``*`` or ``+`` that would build a string or list over MAX_VALUE_LENGTH."""
    sized = (str, list, tuple)
    if isinstance(op, ast.Mult):
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, sized) and isinstance(count, int) and len(seq) * count > MAX_VALUE_LENGTH:
                raise ProgramStopped(f"line {line}: a value longer than {MAX_VALUE_LENGTH} would be built")
    if isinstance(op, ast.Add) and isinstance(left, sized) and isinstance(right, sized) \
            and len(left) + len(right) > MAX_VALUE_LENGTH:
        raise ProgramStopped(f"line {line}: a value longer than {MAX_VALUE_LENGTH} would be built")
