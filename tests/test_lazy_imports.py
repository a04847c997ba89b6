"""House rule: an import inside a function says why it is not at the top of its module.

Imports inside functions are kept only where they buy start-up time (a heavy library most commands
never need) or break a real cycle; each says so with `# lazy: <reason>`, on its line or on the
comment line just above its group of imports."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "jobctl"


def _function_imports(tree: ast.AST):
    seen: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom) and inner.lineno not in seen:
                    seen.add(inner.lineno)
                    yield inner


def _reasoned(lines: list[str], node: ast.Import | ast.ImportFrom) -> bool:
    if any("lazy" in line for line in lines[node.lineno - 1 : node.end_lineno]):
        return True
    # walk up over the imports (and blank lines, try:) of the same group to the comment above them
    index = node.lineno - 2
    while index >= 0:
        text = lines[index].strip()
        if "# lazy" in text:
            return True
        is_import = text.startswith(("import ", "from ")) or text.endswith((",", "(")) or text == ")"
        if not (is_import or text == "" or text.startswith("try:")):
            return False
        index -= 1
    return False


def test_every_import_inside_a_function_says_why():
    unexplained = []
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = path.read_text().splitlines()
        for node in _function_imports(ast.parse("\n".join(lines))):
            if not _reasoned(lines, node):
                unexplained.append(
                    f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {lines[node.lineno - 1].strip()}"
                )
    assert not unexplained, "imports inside functions without '# lazy: <reason>':\n" + "\n".join(unexplained)
