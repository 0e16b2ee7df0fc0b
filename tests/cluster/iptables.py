"""The iptables chains the node's programs add, removed at the end of a run.

The kubelet adds chains of its own on every node (``KUBE-FIREWALL``, hooked into INPUT and OUTPUT, and its
canary and hint chains, for IPv4 and IPv6) and kube-proxy adds one chain per Service and endpoint; none of them
goes away when the programs stop. ``KubeChains`` notes which ``KUBE-`` chains exist before the node starts, and
afterwards empties and deletes every ``KUBE-`` chain that appeared, with the rules that jump to it, leaving the
chains of anyone else on the host (a container engine's, a cluster's that was there before) alone.
"""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass, field

PREFIX = "KUBE-"
FAMILIES = ("iptables", "ip6tables")
TABLES = ("filter", "nat", "mangle")

Table = tuple[str, str]  # (command, table)


def _rules(table: Table) -> list[str]:
    command, name = table
    done = subprocess.run([command, "-t", name, "-S"], capture_output=True, text=True, check=False)
    return done.stdout.splitlines() if done.returncode == 0 else []


def _kube_chains(table: Table) -> set[str]:
    return {line.split()[1] for line in _rules(table) if line.startswith("-N " + PREFIX)}


def _run(table: Table, *args: str) -> str:
    command, name = table
    done = subprocess.run([command, "-t", name, *args], capture_output=True, text=True, check=False)
    return "" if done.returncode == 0 else f"{command} -t {name} {' '.join(args)}: {done.stderr.strip()}"


@dataclass
class KubeChains:
    before: dict[Table, set[str]] = field(default_factory=dict)

    def note_existing(self) -> None:
        self.before = {(c, t): _kube_chains((c, t)) for c in FAMILIES for t in TABLES}

    def remove_new(self) -> list[str]:
        """Delete the chains that appeared since ``note_existing``; returns what iptables refused."""
        problems: list[str] = []
        for table, existing in self.before.items():
            new = _kube_chains(table) - existing
            if not new:
                continue
            problems += [_run(table, "-F", chain) for chain in sorted(new)]  # no rule of theirs jumps anywhere now
            for line in _rules(table):
                words = shlex.split(line)
                if words[0] == "-A" and "-j" in words and words[words.index("-j") + 1] in new:
                    problems.append(_run(table, "-D", *words[1:]))
            problems += [_run(table, "-X", chain) for chain in sorted(new)]
        return [problem for problem in problems if problem]
