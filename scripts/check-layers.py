#!/usr/bin/env python3
"""The include graph between areas (include/deepgate/<area>, src/<area>): config/ includes only
core/ (and itself), core/ includes nothing of ours, and no two areas include each other, directly
or through others. Exits non-zero and names the offending includes otherwise."""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
include = re.compile(r'#include "deepgate/([a-z_]+)/')
edges = {}  # (from, to) -> first file that makes it
for base in (root / "include" / "deepgate", root / "src"):
    for f in base.rglob("*"):
        if f.suffix not in (".hpp", ".cpp") or f.parent == base:
            continue
        area = f.relative_to(base).parts[0]
        for to in include.findall(f.read_text(errors="replace")):
            if to != area:
                edges.setdefault((area, to), f.relative_to(root))

errors = []
allowed = {"config": {"core"}, "core": set()}
for (a, b), where in sorted(edges.items()):
    if a in allowed and b not in allowed[a]:
        errors.append(f"{where}: {a}/ may include only {sorted(allowed[a]) or 'nothing of ours'}, not {b}/")

graph = {}
for a, b in edges:
    graph.setdefault(a, set()).add(b)

def reaches(start, goal, seen):
    for n in graph.get(start, ()):
        if n == goal:
            return True
        if n not in seen:
            seen.add(n)
            if reaches(n, goal, seen):
                return True
    return False

for (a, b), where in sorted(edges.items()):
    if reaches(b, a, set()):
        errors.append(f"{where}: {a}/ includes {b}/, which includes {a}/ back (directly or through others)")

for e in errors:
    print("check-layers:", e)
print(f"check-layers: {len(edges)} area dependencies, {len(errors)} problems")
sys.exit(1 if errors else 0)
