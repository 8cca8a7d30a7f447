"""An import-linter contract that import-linter does not ship: no import cycle anywhere.

`acyclic_siblings` looks at siblings within one package; this one looks at every module of the
root packages at once (Tarjan's strongly connected components over grimp's graph), so a cycle
that crosses packages, like bot.app → bot.background → bot.sender → bot.cli → bot.app, is
reported with the modules it goes through.
"""

from __future__ import annotations

import sys
from typing import Any

from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


class NoCyclesContract(Contract):
    type_name = "no_cycles"

    roots = fields.ListField(subfield=fields.StringField())

    def check(self, graph: Any, verbose: bool) -> ContractCheck:
        roots: list[str] = list(self.roots)  # type: ignore[call-overload]
        modules = sorted(
            m for m in graph.modules if any(m == r or m.startswith(r + ".") for r in roots)
        )
        inside = set(modules)
        edges = {m: sorted(graph.find_modules_directly_imported_by(m) & inside) for m in modules}
        cycles = [sorted(c) for c in _strongly_connected(modules, edges) if len(c) > 1]
        cycles += [[m] for m in modules if m in edges[m]]
        return ContractCheck(kept=not cycles, metadata={"cycles": cycles})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for cycle in check.metadata["cycles"]:
            print("Import cycle among: " + " ↔ ".join(cycle), file=sys.stdout)


def _strongly_connected(nodes: list[str], edges: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (the module graph is deep enough to hit recursion limits)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            successors = edges.get(node, [])
            if child < len(successors):
                work.append((node, child + 1))
                nxt = successors[child]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                found.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found
