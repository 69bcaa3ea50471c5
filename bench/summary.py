"""Turn one run's raw outputs (wrk reports, refresh_load.py's JSON, peak RSS) into the summary
table on stdout and bench/results/latest.json."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

MARKER = "BENCH_JSON "


def wrk_result(path: Path) -> dict[str, Any]:
    """The JSON line token.lua's done() printed, plus derived figures."""
    lines = [line for line in path.read_text().splitlines() if line.startswith(MARKER)]
    if not lines:
        raise SystemExit(f"summary: no {MARKER.strip()} line in {path} (did wrk fail?)")
    raw = json.loads(lines[-1][len(MARKER) :])
    cpu = [
        line.split()[1] for line in path.read_text().splitlines() if line.startswith("BENCH_CPU ")
    ]
    seconds = raw["duration_us"] / 1e6
    socket_errors = sum(
        raw[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
    )
    ok = raw["requests"] - raw["non_2xx_3xx"]
    return {
        "generator": "wrk + bench/token.lua",
        "duration_s": round(seconds, 3),
        "requests": raw["requests"],
        "ok": ok,
        "errors": raw["non_2xx_3xx"] + socket_errors,
        "non_2xx_3xx": raw["non_2xx_3xx"],
        "socket_errors": socket_errors,
        "requests_per_s": round(raw["requests"] / seconds, 1),
        "grants_per_s": round(ok / seconds, 1),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p90_ms": round(raw["p90_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "max_ms": round(raw["max_us"] / 1000, 2),
        "server_cpu_pct_of_one_core": float(cpu[-1]) if cpu else None,
    }


def mib(kb: int) -> str:
    return f"{kb / 1024:.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider-cc", type=Path, required=True, help="wrk output file")
    parser.add_argument("--peer-cc", type=Path, required=True, help="wrk output file")
    parser.add_argument("--provider-refresh", type=Path, required=True, help="JSON file")
    parser.add_argument("--provider-rss-kb", type=int, required=True)
    parser.add_argument("--peer-rss-kb", type=int, required=True)
    parser.add_argument(
        "--meta",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a run setting or version to record (repeatable)",
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    scenarios = {
        "provider client_credentials": wrk_result(args.provider_cc),
        "peer client_credentials": wrk_result(args.peer_cc),
        "provider refresh_token": json.loads(args.provider_refresh.read_text()),
    }
    ratio = (
        scenarios["provider client_credentials"]["grants_per_s"]
        / scenarios["peer client_credentials"]["grants_per_s"]
    )
    result = {
        "run": dict(item.split("=", 1) for item in args.meta),
        "scenarios": scenarios,
        "client_credentials_ratio_provider_to_peer": round(ratio, 3),
        "peak_rss_kb": {"provider": args.provider_rss_kb, "peer": args.peer_rss_kb},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    print(
        f"{'scenario':<30} {'load generator':<16} {'grants/s':>9} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'errors':>7} {'server CPU':>11}"
    )
    for name, row in scenarios.items():
        generator = "wrk" if row["generator"].startswith("wrk") else "refresh_load.py*"
        cpu = row.get("server_cpu_pct_of_one_core")
        print(
            f"{name:<30} {generator:<16} {row['grants_per_s']:>9.1f} {row['p50_ms']:>8.2f} "
            f"{row['p99_ms']:>8.2f} {row['errors']:>7} {f'{cpu:.0f}%' if cpu else '-':>11}"
        )
    print(f"\nclient_credentials grants/s, provider / peer: {ratio:.2f}")
    print(f"peak RSS (VmHWM): provider {mib(args.provider_rss_kb)}, peer {mib(args.peer_rss_kb)}")
    print("server CPU: the server process's CPU time during the measured run, in % of one core.")
    print(
        "* refresh_token uses a different load generator (Python httpx, one chain per "
        "worker); not comparable with the wrk rows."
    )
    print(f"JSON: {args.out}")


if __name__ == "__main__":
    main()
