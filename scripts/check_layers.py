#!/usr/bin/env python3
"""check_layers: the layer rules of docs/design.md, read from #include lines.

Fails (exit 1, one line per breach) when
  - a gateway/ folder includes a higher one (order: LAYERS below), or one
    that is not in the order at all;
  - the folders of gateway/ include each other in a cycle;
  - a quoted include in gateway/ does not name its folder ("conn/conn.h");
  - sip/ or tls/ include anything outside themselves (system headers and
    BoringSSL's <openssl/...> aside), or config/ includes gateway/.

Usage: check_layers.py [ROOT]   (ROOT: the source tree, default: this repo)
"""
import pathlib
import re
import sys

# Low to high. A folder may include its own headers and lower folders'.
LAYERS = ["core", "dns", "capture", "conn", "relay", "admin", "worker"]
# Modules below every gateway folder, and what each may include.
MODULES = {"sip": {"sip"}, "tls": {"tls"}, "config": {"config", "sip", "tls"}}
# gateway/main.c sits above every folder.
TOP = "main"

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^">]+)[">]', re.M)


def includes(path):
    """Yields (line number, delimiter, target) for each #include of |path|."""
    text = path.read_text(errors="replace")
    for m in INCLUDE.finditer(text):
        yield text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2)


def quoted(delim, target):
    return f'{delim}{target}{">" if delim == "<" else delim}'


def sources(root, folder):
    return sorted(p for p in (root / folder).rglob("*") if p.suffix in (".c", ".h"))


def find_cycle(edges):
    """Returns one cycle of the folder graph |edges| as a list, or None."""
    state = {}  # folder -> 1 on the DFS stack, 2 done

    def visit(node, stack):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, stack)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node, [])
            if found:
                return found
    return None


def check(root):
    errors = []
    project_tops = set(LAYERS) | set(MODULES) | {"gateway"}
    edges = {}
    for path in sources(root, "gateway"):
        rel = path.relative_to(root / "gateway")
        folder = rel.parts[0] if len(rel.parts) > 1 else TOP
        if folder != TOP and folder not in LAYERS:
            errors.append(f"gateway/{rel}: folder {folder}/ is not in the layer order {LAYERS}")
            continue
        for line, delim, target in includes(path):
            head = target.split("/")[0]
            where = f"gateway/{rel}:{line}: #include {quoted(delim, target)}"
            if delim == "<":
                if head in project_tops:
                    errors.append(f"{where}: project headers are included with quotes")
                continue
            if "/" not in target:
                errors.append(f"{where}: name the folder (\"<folder>/{target}\")")
                continue
            if head in MODULES:
                continue
            if head not in LAYERS:
                errors.append(f"{where}: {head}/ is not a gateway folder nor a module")
                continue
            if head != folder:
                edges.setdefault(folder, set()).add(head)
            if folder != TOP and LAYERS.index(head) > LAYERS.index(folder):
                errors.append(f"{where}: {folder}/ is below {head}/ and must not include it")
    cycle = find_cycle(edges)
    if cycle:
        errors.append("gateway/ folders include each other in a cycle: " + " -> ".join(cycle))
    for module, allowed in MODULES.items():
        for path in sources(root, module):
            rel = path.relative_to(root)
            for line, delim, target in includes(path):
                head = target.split("/")[0]
                where = f"{rel}:{line}: #include {quoted(delim, target)}"
                if delim == '"' and head not in allowed:
                    errors.append(f"{where}: {module}/ includes only {sorted(allowed)}")
                elif delim == "<" and head in project_tops:
                    errors.append(f"{where}: {module}/ includes only {sorted(allowed)}")
    return errors


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent.parent)
    errors = check(root.resolve())
    for e in errors:
        print(e)
    if errors:
        print(f"check_layers: {len(errors)} breach(es) of the layer rules", file=sys.stderr)
        return 1
    print("check_layers: layers and modules include only downwards")
    return 0


if __name__ == "__main__":
    sys.exit(main())
