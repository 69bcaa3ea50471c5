"""refresh_token load for provider: N concurrent workers, each rotating its own token chain.

Refresh tokens rotate on every use and a reused one revokes its whole family, so workers cannot
share a token the way wrk's connections share one fixed body. Each worker gets its own chain
from a real sign-in (authorization code flow through the hosted login page), then refreshes in
a loop: every response's refresh_token is the next request's.

This is a different load generator from wrk (Python + httpx, on the same cores as the server),
so its figures are not comparable with the wrk figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


class BenchError(Exception):
    """Setup or the pre-check failed: the run must stop, not report a figure."""


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)  # seconds, successful grants only
    errors: int = 0
    last_error: str = ""


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return 0.0
    rank = max(1, round(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


async def authorization_code(browser: httpx.AsyncClient, args: argparse.Namespace) -> str:
    """/authorize → (login once; the session cookie covers later chains) → code."""
    response = await browser.get(
        "/authorize",
        params={
            "response_type": "code",
            "client_id": args.client_id,
            "redirect_uri": args.redirect_uri,
            "scope": "openid offline_access",
            "state": "x",
        },
    )
    for _ in range(10):  # follow the provider's own redirects by hand, as a browser would
        if response.status_code in (302, 303):
            location = response.headers["location"]
            if location.startswith(args.redirect_uri):
                query = parse_qs(urlsplit(location).query)
                if "code" not in query:
                    raise BenchError(f"no code in the redirect: {location}")
                return query["code"][0]
            response = await browser.get(location)
        elif response.status_code == 200 and 'action="/login"' in response.text:
            fields = dict(HIDDEN.findall(response.text))  # csrf and tx
            response = await browser.post(
                "/login",
                data={
                    **fields,
                    "email": args.email,
                    "password": args.password,
                },
            )
        else:
            raise BenchError(f"sign-in stopped at {response.status_code}: {response.text[:300]}")
    raise BenchError("sign-in: too many redirects")


async def new_chain(browser: httpx.AsyncClient, args: argparse.Namespace) -> str:
    """A fresh token family: sign in, exchange the code, return its refresh token."""
    code = await authorization_code(browser, args)
    response = await browser.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": args.redirect_uri,
            "client_id": args.client_id,
            "client_secret": args.client_secret,
        },
    )
    refresh = response.json().get("refresh_token") if response.status_code == 200 else None
    if not refresh:
        raise BenchError(
            f"code exchange gave no refresh token: {response.status_code} {response.text[:300]}"
        )
    return refresh


async def refresh(
    http: httpx.AsyncClient, args: argparse.Namespace, token: str
) -> tuple[str | None, str]:
    """One refresh grant: (the next refresh token, or None on failure; an error text)."""
    response = await http.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": token,
            "client_id": args.client_id,
            "client_secret": args.client_secret,
        },
    )
    if response.status_code == 200:
        body = response.json()
        if body.get("access_token") and body.get("refresh_token"):
            return body["refresh_token"], ""
    return None, f"{response.status_code} {response.text[:200]}"


async def worker(
    http: httpx.AsyncClient,
    args: argparse.Namespace,
    chains: list[str],
    index: int,
    stop_at: float,
    stats: Stats,
) -> None:
    while time.perf_counter() < stop_at:
        started = time.perf_counter()
        try:
            token, error = await refresh(http, args, chains[index])
        except httpx.HTTPError as exc:
            token, error = None, f"{type(exc).__name__}: {exc}"
        if token is None:
            # The chain's state is unknown now (the server may have rotated it), so reusing
            # it would be token reuse and revoke the family: this worker stops.
            stats.errors += 1
            stats.last_error = error
            return
        stats.latencies.append(time.perf_counter() - started)
        chains[index] = token


async def phase(
    http: httpx.AsyncClient, args: argparse.Namespace, chains: list[str], seconds: float
) -> tuple[Stats, float]:
    stats = Stats()
    started = time.perf_counter()
    await asyncio.gather(
        *(worker(http, args, chains, i, started + seconds, stats) for i in range(len(chains)))
    )
    return stats, time.perf_counter() - started


async def run(args: argparse.Namespace) -> dict[str, object]:
    # trust_env=False: no proxy from the environment, everything stays on loopback.
    common = {"base_url": args.base_url, "timeout": 30, "trust_env": False}
    async with httpx.AsyncClient(follow_redirects=False, **common) as browser:
        chains = [await new_chain(browser, args) for _ in range(args.workers)]
    limits = httpx.Limits(max_connections=args.workers, max_keepalive_connections=args.workers)
    async with httpx.AsyncClient(limits=limits, **common) as http:
        # Pre-check: one refresh must answer 200 with both tokens, or nothing is measured.
        token, error = await refresh(http, args, chains[0])
        if token is None:
            raise BenchError(f"refresh pre-check failed: {error}")
        chains[0] = token
        warm, _ = await phase(http, args, chains, args.warmup)
        if warm.errors:
            raise BenchError(f"warm-up: {warm.errors} failed refreshes, last: {warm.last_error}")
        stats, elapsed = await phase(http, args, chains, args.duration)
    latencies = sorted(stats.latencies)
    return {
        "generator": "bench/refresh_load.py (python httpx, asyncio)",
        "workers": args.workers,
        "duration_s": round(elapsed, 3),
        "requests": len(latencies) + stats.errors,
        "ok": len(latencies),
        "errors": stats.errors,
        "last_error": stats.last_error,
        "grants_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "max_ms": round((latencies[-1] if latencies else 0.0) * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--redirect-uri", required=True)
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds first")
    parser.add_argument("--out", help="write the result JSON here too")
    args = parser.parse_args()
    try:
        result = asyncio.run(run(args))
    except BenchError as exc:
        sys.exit(f"refresh_load: {exc}")
    text = json.dumps(result, indent=2)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
