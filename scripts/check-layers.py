#!/usr/bin/env python3
"""Checks that the modules' imports are the layers Package.swift states (`--graph` also prints
each module's dependencies, lowest layer first).

For every Swift target: each project module it imports is one of its declared dependencies,
each declared project dependency is imported somewhere in it, and (for targets under Sources/)
each dependency comes earlier in Package.swift's list than the target itself, as the list's
comment says. Exits 1 and names every disagreement.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRODUCTS = {"ArgumentParser", "Logging"}  # package products: checked like modules


def targets(manifest):
    """(kind, name, dependencies, path) for each target, in the order of the manifest."""
    found = []
    for match in re.finditer(r"\.(target|testTarget|executableTarget|systemLibrary)\(", manifest):
        depth, index = 1, match.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(manifest[index], 0)
            index += 1
        body = manifest[match.end():index - 1]
        name = re.search(r'name:\s*"([^"]+)"', body).group(1)
        dependencies = []
        listed = re.search(r"dependencies:\s*\[(.*?)\]\s*(,|$)", body, re.S)
        if listed:
            dependencies = re.findall(r'^\s*"([^"]+)"|,\s*"([^"]+)"|\.product\(name:\s*"([^"]+)"', listed.group(1), re.M)
            dependencies = [next(part for part in parts if part) for parts in dependencies]
        path = re.search(r'path:\s*"([^"]+)"', body)
        kind = match.group(1)
        default = ("Tests/" if kind == "testTarget" else "Sources/") + name
        found.append((kind, name, dependencies, path.group(1) if path else default))
    return found


def imports(directory):
    modules = set()
    for folder, _, files in os.walk(os.path.join(ROOT, directory)):
        for file in files:
            if file.endswith(".swift"):
                with open(os.path.join(folder, file), encoding="utf-8") as source:
                    modules.update(re.findall(r"^(?:@testable\s+)?import\s+([A-Za-z_]+)", source.read(), re.M))
    return modules


def main():
    with open(os.path.join(ROOT, "Package.swift"), encoding="utf-8") as file:
        listed = targets(file.read())
    if "--graph" in sys.argv:
        for kind, name, dependencies, path in listed:
            if kind != "systemLibrary" and path.startswith("Sources/"):
                print(f"{name} -> {', '.join(dependencies) or '(none)'}")
    order = {name: index for index, (_, name, _, _) in enumerate(listed)}
    known = set(order) | PRODUCTS
    problems = []
    for kind, name, dependencies, path in listed:
        if kind == "systemLibrary":
            continue
        used = imports(path) & known
        declared = set(dependencies)
        for module in sorted(used - declared - {name}):
            problems.append(f"{name} imports {module}, which it does not declare")
        for module in sorted(declared - used):
            if module in order and listed[order[module]][0] == "systemLibrary" or module == "CKernels":
                continue  # C modules may be linked without a Swift import in every file set
            problems.append(f"{name} declares {module}, which it never imports")
        if path.startswith("Sources/"):
            for module in dependencies:
                if module in order and order[module] > order[name]:
                    problems.append(f"{name} depends on {module}, which comes after it in Package.swift")
    for problem in problems:
        print(problem)
    print(f"{len(listed)} targets, {len(problems)} disagreement(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
