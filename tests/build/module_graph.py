#!/usr/bin/env python3
"""The module graph, read from the meson files the build enforces.

    module_graph.py            print the graph
    module_graph.py --write    rewrite its block in docs/architecture.md
    module_graph.py --check    exit 1 if docs/architecture.md differs

Each lib/<m>/meson.build declares `<m>_dep = declare_dependency(...,
dependencies : [...])`; the project modules named there are the edges, and
external libraries (dpdk, tbb, ...) are listed per module.
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
BEGIN = "<!-- BEGIN generated: module graph (tests/build/module_graph.py --write) -->"
END = "<!-- END generated: module graph -->"


def modules():
    text = (ROOT / "lib" / "meson.build").read_text()
    m = re.search(r"lib_modules\s*=\s*\[(.*?)\]", text, re.S)
    return re.findall(r"'([a-z_]+)'", m.group(1))


def declared(mod):
    """(project modules, external deps) named by <mod>_dep."""
    text = (ROOT / "lib" / mod / "meson.build").read_text()
    m = re.search(mod + r"_dep\s*=\s*declare_dependency\((.*?)\)\s*$", text, re.S | re.M)
    if not m:
        raise SystemExit(f"lib/{mod}/meson.build: no {mod}_dep = declare_dependency(...)")
    body = re.sub(r"mod_inc\['[a-z_]+'\]", "", m.group(1))  # the module's own include root
    deps = re.search(r"dependencies\s*:\s*\[?([^\]\)]*)", body)
    names = re.findall(r"\b([a-z_]+)\b", deps.group(1)) if deps else []
    mods = [n[:-4] for n in names if n.endswith("_dep")]
    ext = [n for n in names if not n.endswith("_dep") and n not in mods]
    return mods, ext


def closure(graph, mod):
    seen, todo = set(), list(graph[mod][0])
    while todo:
        d = todo.pop()
        if d not in seen:
            seen.add(d)
            todo.extend(graph[d][0])
    return seen


def graph():
    g = {m: declared(m) for m in modules()}
    for m, (deps, _) in g.items():
        for d in deps:
            if d not in g:
                raise SystemExit(f"lib/{m}/meson.build: {d}_dep is not a module of lib/meson.build")
        if m in closure(g, m):
            raise SystemExit(f"module cycle through {m}")
    return g


def render(g):
    lines = [BEGIN, "", "```mermaid", "graph BT"]
    for m, (deps, _) in g.items():
        # Draw only edges not implied by another path: the direct "reaches".
        implied = set().union(*[closure(g, d) for d in deps]) if deps else set()
        for d in deps:
            if d not in implied:
                lines.append(f"  {m} --> {d}")
    lines += ["```", "", "| module | declares (may include) | reaches through them | external |",
              "|---|---|---|---|"]
    for m, (deps, ext) in g.items():
        indirect = sorted(closure(g, m) - set(deps))
        lines.append(f"| `{m}` | {', '.join(deps) or '—'} | {', '.join(indirect) or '—'} | "
                     f"{', '.join(ext) or '—'} |")
    lines += ["", END]
    return "\n".join(lines)


def main():
    g = graph()
    block = render(g)
    if len(sys.argv) == 1:
        print(block)
        return 0
    doc = DOC.read_text()
    if BEGIN not in doc or END not in doc:
        print(f"{DOC}: no generated module-graph block (markers missing)", file=sys.stderr)
        return 1
    a, b = doc.index(BEGIN), doc.index(END) + len(END)
    new = doc[:a] + block + doc[b:]
    if sys.argv[1] == "--check":
        if new != doc:
            print(f"{DOC}: module graph is stale; run tests/build/module_graph.py --write",
                  file=sys.stderr)
            return 1
        return 0
    if sys.argv[1] == "--write":
        DOC.write_text(new)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
