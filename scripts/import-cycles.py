#!/usr/bin/env python3
"""The import graph of the module's src/ files, and its circles.

Each file is a node; `crate::a::b` and `super::x` paths (in `use` lines and inline, comments
aside) are edges to the file that defines the deepest module named. A circle is a strongly
connected set of files: each reaches every other through imports. Layers only point down, so
the only circles allowed are small ones of closely tied files, or the files of one directory
module (a file split by job, such as access/).

    scripts/import-cycles.py            # fails (exit 1) on a circle of more than 3 files
    scripts/import-cycles.py --list     # also prints each file's imports
    scripts/import-cycles.py --max N    # another limit
    scripts/import-cycles.py --root DIR # another tree (an older src/, to compare)

It also fails when a file takes anything but the module's handle from lib.rs.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
# What files may take from lib.rs: the module's handle.
HANDLE = {"JwtPeerAuthModule", "module_tag", "ngx_http_jwt_peer_auth_module"}


def module_of(rel):
    parts = rel[:-3].split("/")
    if parts[-1] in ("lib", "mod"):
        parts = parts[:-1]
    return tuple(parts)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    # Line comments (doc comments too), but not `//` inside a string literal such as a URL.
    out = []
    for line in text.split("\n"):
        in_str = False
        cut = len(line)
        i = 0
        while i < len(line):
            c = line[i]
            if c == "\\" and in_str:
                i += 2
                continue
            if c == '"':
                in_str = not in_str
            elif not in_str and line.startswith("//", i):
                cut = i
                break
            i += 1
        out.append(line[:cut])
    return "\n".join(out)


def expand_use(tree, prefix):
    """`a::{b, c::{d}}` -> [a::b, a::c::d] (as lists of segments)."""
    tree = tree.strip()
    m = re.match(r"^([\w:]*?)(?:::)?\{(.*)\}$", tree, flags=re.S)
    if not m:
        tree = re.sub(r"\s+as\s+\w+$", "", tree)
        return [prefix + [s for s in tree.split("::") if s]]
    head = [s for s in m.group(1).split("::") if s]
    body, depth, cur, items = m.group(2), 0, "", []
    for ch in body:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
        else:
            cur += ch
    items.append(cur)
    paths = []
    for it in items:
        if it.strip():
            paths += expand_use(it, prefix + head)
    return paths


def references(text, module, children):
    text = strip_comments(text)
    paths = []
    # `use child::...` (or `self::child`) in a file that declares `mod child`.
    for m in re.finditer(r"\buse\s+(?:self::)?(\w+)((?:::)[^;]*);", text, flags=re.S):
        if m.group(1) in children:
            paths += expand_use(m.group(2).lstrip(":"), list(module) + [m.group(1)])
    for m in re.finditer(r"\buse\s+(crate|super)((?:::)[^;]*);", text, flags=re.S):
        base = [] if m.group(1) == "crate" else list(module[:-1])
        paths += expand_use(m.group(2).lstrip(":"), base)
    body = re.sub(r"\buse\s+(crate|super)::[^;]*;", "", text, flags=re.S)
    for m in re.finditer(r"\b(crate|super)((?:::\w+)+)", body):
        base = [] if m.group(1) == "crate" else list(module[:-1])
        paths.append(base + [s for s in m.group(2).split("::") if s])
    return paths


def main():
    global ROOT
    args = sys.argv[1:]
    if "--root" in args:
        ROOT = args[args.index("--root") + 1]
    limit = int(args[args.index("--max") + 1]) if "--max" in args else 3
    files = {}
    for d, _, names in os.walk(ROOT):
        for n in names:
            if n.endswith(".rs"):
                rel = os.path.relpath(os.path.join(d, n), ROOT).replace(os.sep, "/")
                files[module_of(rel)] = rel
    edges = {rel: set() for rel in files.values()}
    handle_uses = []
    for mod, rel in files.items():
        if rel == "lib.rs":
            # The wiring at the top: it names every module. What others may take from it is
            # only the module's handle (checked below), a leaf.
            continue
        with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
            text = f.read()
        children = {m[-1] for m in files if len(m) == len(mod) + 1 and m[: len(mod)] == mod}
        for path in references(text, mod, children):
            # The deepest module the path names (a `crate::x::Item` names x).
            for n in range(len(path), -1, -1):
                target = files.get(tuple(path[:n]))
                if target:
                    break
            if target == "lib.rs" and path[n:n + 1] and path[n] not in HANDLE:
                handle_uses.append(f"{rel}: crate::{'::'.join(path)}")
            if target and target != rel:
                edges[rel].add(target)
    if "--list" in args:
        for rel in sorted(edges):
            print(f"{rel}: {' '.join(sorted(edges[rel])) or '-'}")
    # Tarjan's strongly connected components.
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    circles = sorted((c for c in comps if len(c) > 1), key=len, reverse=True)
    for c in circles:
        print(f"circle of {len(c)} files: {' '.join(c)}")
    # The files of one directory module (a split file: `access/`, `revocation/`) are one unit.
    too_big = [c for c in circles if len(c) > limit and len({os.path.dirname(f) for f in c}) > 1]
    for u in handle_uses:
        print(f"takes more than the module handle from lib.rs: {u}", file=sys.stderr)
    if too_big or handle_uses:
        print(f"import circles larger than {limit} files: layers must only point down "
              "(see CONTRIBUTING.md, Architecture)", file=sys.stderr)
        return 1
    print(f"no import circle larger than {limit} files ({len(files)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
