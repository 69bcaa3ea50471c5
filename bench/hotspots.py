"""Top hot spots from a py-spy raw profile (collapsed stacks: `frame;frame;... count`).

provider serves from one event-loop thread; aiosqlite adds one thread per open SQLite
connection. py-spy counts those threads as busy even while they block in `tx.get()` waiting
for work, so such samples are set apart as idle. The function tables cover the event-loop
thread only (the one that saturates a core), in % of its samples; line numbers are dropped so
that one function is one row.
"""

from __future__ import annotations

import argparse
import importlib.util
import linecache
import re
from collections import Counter
from functools import cache
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
LOOP = "event-loop thread"


def parse(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        if frames and count.isdigit():
            stacks.append((frames.split(";"), int(count)))
    return stacks


@cache
def source_line(file: str, line: int) -> str:
    """The text of a line of an installed module, from py-spy's shortened path."""
    spec = importlib.util.find_spec(file.removesuffix(".py").replace("/", "."))
    return linecache.getline(spec.origin, line) if spec and spec.origin else ""


def role(frames: list[str]) -> str:
    if any(f.startswith("Runner.run (") for f in frames):
        return LOOP
    leaf = FRAME.match(frames[-1])
    if leaf and leaf["file"].startswith("aiosqlite/"):
        if leaf["line"] and "tx.get()" in source_line(leaf["file"], int(leaf["line"])):
            return "aiosqlite threads, idle (waiting in tx.get())"
        return "aiosqlite threads, working (SQLite queries)"
    return "other threads"


def function(frame: str) -> str:
    match = FRAME.match(frame)
    return f"{match['func']} ({match['file']})" if match else frame


def package(frame: str) -> str:
    match = FRAME.match(frame)
    if not match or "/" not in match["file"]:
        return "stdlib / C extension"
    return match["file"].split("/")[0]


def table(title: str, counter: Counter[str], total: int, top: int) -> None:
    print(f"\n{title}")
    for name, count in counter.most_common(top):
        print(f"  {100 * count / total:5.1f}%  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    stacks = parse(args.raw)
    roles: Counter[str] = Counter()
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    ours: Counter[str] = Counter()  # provider's own functions, time including callees
    for frames, count in stacks:
        roles[role(frames)] += count
        if role(frames) != LOOP:
            continue
        own[function(frames[-1])] += count
        packages[package(frames[-1])] += count
        for name in {function(f) for f in frames if FRAME.match(f) and "(provider/" in f}:
            ours[name] += count
    total, loop = sum(roles.values()), roles[LOOP]
    print(f"{total} samples in all threads, {loop} in the event-loop thread")
    table("samples by thread (% of all)", roles, total, 5)
    table("event loop: self time by package (% of event-loop samples)", packages, loop, 12)
    table("event loop: self time by function", own, loop, args.top)
    table("event loop: provider functions, time including callees", ours, loop, args.top)


if __name__ == "__main__":
    main()
