"""The code's shape: edge/ in layers that import only downwards, a small top level, and no import
circles anywhere in the project (imports inside functions count too)."""
from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGES = ("edge", "agegender", "train", "export", "benchmarks")
LAYERS = {"vision": 1, "live": 2, "service": 3}   # edge's top-level modules are layer 0


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules that ``path`` imports, at module level or inside functions."""
    found: set[str] = set()
    me = module_name(path)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            while name and name not in modules:          # `from pkg import name` may name a symbol
                name = name.rpartition(".")[0]
            if name and name != me and not me.startswith(name + "."):   # a package's own __init__ is not a cycle
                found.add(name)
    return found


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.get(parts[1], 0) if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else 0


def test_edge_layers_import_only_downwards():
    modules = project_modules()
    upward = []
    for name, path in modules.items():
        if not name.startswith("edge.") or name == "edge":
            continue
        for target in imports_of(path, modules):
            if target.startswith("edge.") and layer(target) > layer(name):
                upward.append(f"{name} -> {target}")
            if not target.startswith("edge"):
                upward.append(f"{name} -> {target} (edge must not import the other packages)")
    assert upward == []


def test_the_layer_rule_catches_an_upward_import():
    assert layer("edge.errors") == 0 and layer("edge.vision.model") == 1 and layer("edge.vision.detectors.yunet") == 1
    assert layer("edge.live.sources") == 2 and layer("edge.service.config") == 3 and layer("edge.service") == 3


def test_edge_top_level_stays_small():
    top = [p.name for p in (ROOT / "edge").glob("*.py")]
    assert len(top) <= 12, top


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_circles():
    modules = project_modules()
    graph = {name: imports_of(path, modules) for name, path in modules.items()}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_public_api_example_runs():
    """The example of docs/pipeline.md ("As a library"), run on the demo clip."""
    import re

    text = (ROOT / "docs" / "pipeline.md").read_text()
    code = re.search(r"## As a library.*?```python\n(.*?)```", text, re.S).group(1)
    assert len(code.strip().splitlines()) <= 12
    scope: dict = {}
    exec(compile(code, "docs/pipeline.md", "exec"), scope)   # noqa: S102 - our own documentation
    assert scope["summary"]["frames_processed"] == 30 and scope["faces_seen"] > 0


def test_nothing_under_edge_imports_argparse():
    offenders = []
    for path in (ROOT / "edge").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import) and any(a.name == "argparse" for a in node.names) or \
                    isinstance(node, ast.ImportFrom) and node.module == "argparse":
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_every_run_option_reaches_the_typed_settings():
    """An option added to `run` must land in RunSettings, unless the model/detector builders or the
    config loader consume it."""
    import dataclasses

    from agegender.cli import make_parser
    from agegender.run_options import run_specs
    from edge.service.settings import RunSettings

    builders = {"model", "backend", "threads", "providers", "models_dir", "gender_band", "detector",
                "detector_model", "score_threshold", "nms_threshold", "min_face", "max_faces", "download_models", "detect_size",
                "config"}
    fields = {f.name for f in dataclasses.fields(RunSettings)}
    assert set(run_specs(make_parser())) - fields - builders == set()
