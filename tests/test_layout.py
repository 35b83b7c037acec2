"""The layout people can guess (../shared/style.md): no import circle among the bot's own
modules, and each room importing only downwards.

The graph is read from the source (``ast``), not from ``sys.modules``: every ``import`` in a
module counts, the ones inside functions too, so that a circle cannot hide behind an import
moved into a function (that is how app_home ↔ call_buttons ↔ call_events once lived).
Imports under ``if TYPE_CHECKING:`` do not count: they never run.

The rules, as they hold:

1. Among the modules of ``bot/`` and ``handlers/`` the imports form no circle, except the
   two older ones inside the sandbox listed in ``KNOWN_CIRCLES`` (the Slack emulator and the
   demo script, never imported by the bot itself): a new circle fails, and so does leaving
   a fixed one on the list.
2. ``handlers.forms`` (the provisioning forms) never imports ``handlers.calls`` (the call
   console): the console uses the forms' machinery (modals, ``Form``, the late update), so
   the forms are the lower room. Where a form needs the console's answer to a click (the
   CSV import's Cancel and its App Home button), ``handlers.register_all`` hands it in.
3. ``handlers.commands`` (the command table, which bot/manifest.py and the CLI read) imports
   no other handlers module.
4. ``bot/`` imports from ``handlers/`` only where the listeners are registered or what they
   show is read: the app factory (bot/app.py: ``register_all``, and ``changes_nothing`` for
   its access check), the command table (anywhere), and the places named in
   ``BOT_READS_HANDLERS`` with the reason. A new one is a choice to make here, on purpose.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers")

#: Circles older than this test, each through one import inside a function: the Slack
#: emulator and its files and Block Kit checks (slack_files.py reads the emulator's answers),
#: and the demo script and its CSV import scene (demo_import.py uses demo.py's printing).
KNOWN_CIRCLES = {
    frozenset({"bot.sandbox.slack", "bot.sandbox.block_kit", "bot.sandbox.slack_files"}),
    frozenset({"bot.sandbox.demo", "bot.sandbox.demo_import"}),
}

#: bot/ module → the handlers/ modules it may import besides the command table, and why.
BOT_READS_HANDLERS: dict[str, set[str]] = {
    "bot.app": {"handlers"},  # the app factory registers every listener (register_all)
    "bot.check": {"handlers.calls.app_home"},  # `bot check` shows the App Home refusal the bot stored
    "bot.sandbox.demo": {"handlers.forms.provisioning"},  # the demo masks secrets as the forms do
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imported(tree: ast.AST, here: str, is_package: bool, known: set[str]) -> set[str]:
    """The bot's own modules ``tree`` imports, anywhere in it except under TYPE_CHECKING."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".") if is_package else here.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:  # `from handlers.forms import modal` imports a module
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {name for name in found if name in known}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imported(ast.parse(path.read_text(), str(path)), name, path.name == "__init__.py", known)
            - {name} for name, path in modules.items()}


def _circles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The modules that import each other round a circle, each group once (Tarjan's strongly
    connected components of more than one module)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: set[frozenset[str]] = set()

    def walk(name: str) -> None:
        order[name] = low[name] = len(order)
        stack.append(name)
        for target in sorted(graph[name]):
            if target not in order:
                walk(target)
                low[name] = min(low[name], low[target])
            elif target in stack:
                low[name] = min(low[name], order[target])
        if low[name] == order[name]:
            group = {stack.pop()}
            while name not in group:
                group.add(stack.pop())
            if len(group) > 1:
                found.add(frozenset(group))

    for name in sorted(graph):
        if name not in order:
            walk(name)
    return found


def _in(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_the_reader_of_the_graph_sees_imports_inside_functions() -> None:
    """A circle hidden in a function is found: the rule above is only as good as this."""
    tree = ast.parse("def f():\n    from handlers.calls import app_home\n"
                     "if TYPE_CHECKING:\n    from handlers.forms import modal\n")
    known = {"handlers.calls", "handlers.calls.app_home", "handlers.forms", "handlers.forms.modal"}
    assert _imported(tree, "handlers.forms.x", False, known) == {"handlers.calls.app_home"}
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == {frozenset("abc")}


def test_no_import_circle_among_the_bots_modules() -> None:
    graph = _graph()
    assert "handlers.calls.app_home" in graph and "bot.app" in graph  # the walk found the code
    assert _circles(graph) == KNOWN_CIRCLES


def test_the_forms_never_reach_up_into_the_call_console() -> None:
    graph = _graph()
    upward = {(name, target) for name, targets in graph.items() if _in(name, "handlers.forms")
              for target in targets if _in(target, "handlers.calls")}
    assert upward == set()
    assert any(_in(t, "handlers.forms") for t in graph["handlers.calls.app_home"])  # the console uses them


def test_the_command_table_stands_alone() -> None:
    assert {t for t in _graph()["handlers.commands"] if _in(t, "handlers")} == set()


def test_bot_imports_handlers_only_where_listeners_are_registered_or_read() -> None:
    graph = _graph()
    reads = {name: {t for t in targets if _in(t, "handlers") and t != "handlers.commands"}
             for name, targets in graph.items() if _in(name, "bot")}
    assert {name: targets for name, targets in reads.items() if targets} == BOT_READS_HANDLERS
