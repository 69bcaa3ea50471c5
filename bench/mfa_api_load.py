"""Load on the first-party and operator paths of one provider process (no peer figure: the
peer has no Auth0-style MFA API).

It starts `provider serve` on a scratch data directory, then measures, each for --duration
seconds with --workers concurrent clients (Python + httpx on the same cores as the server):

- password: the password grant answering `mfa_required` (one argon2id verification each);
- mfa-round: password grant → mfa-recovery-code grant, each worker its own user walking its
  recovery-code chain (every answer carries the next code): the whole MFA API path;
- management: GET /api/v2/users?per_page=50 with a Management API token.

    .venv/bin/python bench/mfa_api_load.py [--duration 10] [--workers 16] [--port 8200]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from plugins.totp.codes import totp_code

PASSWORD = "bench-password-1"
RECOVERY = "http://auth0.com/oauth/grant-type/mfa-recovery-code"
OTP = "http://auth0.com/oauth/grant-type/mfa-otp"


def totp_now(secret_b32: str) -> str:
    padded = secret_b32 + "=" * (-len(secret_b32) % 8)
    return totp_code(base64.b32decode(padded), int(time.time()))


def cli(env: dict[str, str], *args: str, as_json: bool = True) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "provider.cli", *args, *(["--json"] if as_json else [])],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return dict(json.loads(out.stdout)) if out.stdout.strip().startswith("{") else {}


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


async def measure(
    name: str, workers: int, duration: float, step: Callable[[int], Awaitable[None]]
) -> None:
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + duration

    async def worker(index: int) -> None:
        nonlocal errors
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                await step(index)
            except Exception as exc:  # noqa: BLE001 - counted and reported, the run goes on
                errors += 1
                if errors == 1:
                    print(f"  first error in {name}: {exc}", file=sys.stderr)
                continue
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(worker(i) for i in range(workers)))
    rate = len(latencies) / duration
    print(
        f"{name:<11} {rate:8.1f}/s  p50 {percentile(latencies, 50) * 1000:6.1f} ms  "
        f"p99 {percentile(latencies, 99) * 1000:6.1f} ms  errors {errors}"
    )


async def run(args: argparse.Namespace, base: str, env: dict[str, str]) -> None:
    app = cli(env, "clients", "create", "--name", "bench-app", "--first-party",
              "--grant-type", "password")  # fmt: skip
    ops = cli(env, "clients", "create", "--name", "bench-ops", "--grant-type",
              "client_credentials", "--api-scopes", "read:users")  # fmt: skip
    creds = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:

        async def password(email: str) -> str:
            answer = await http.post("/oauth/token", data={
                "grant_type": "password", "username": email, "password": PASSWORD,
                "scope": "openid", **creds})  # fmt: skip
            if answer.status_code != 403:
                raise RuntimeError(f"password grant: {answer.status_code} {answer.text[:200]}")
            return str(answer.json()["mfa_token"])

        # One user per worker, enrolled through the MFA API; each keeps its recovery code.
        codes: list[str] = []
        for index in range(args.workers):
            email = f"bench{index}@example.com"
            cli(env, "users", "create", "--email", email, "--password", PASSWORD)
            token = await password(email)
            enrolled = await http.post("/mfa/associate", json={"authenticator_types": ["otp"]},
                                       headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            secret = enrolled.json()["secret"]
            form = {"grant_type": OTP, "mfa_token": token, "otp": totp_now(secret), **creds}
            confirmed = await http.post("/oauth/token", data=form)
            if confirmed.status_code != 200:
                raise RuntimeError(f"enrollment: {confirmed.status_code} {confirmed.text[:200]}")
            codes.append(enrolled.json()["recovery_codes"][0])

        async def password_step(index: int) -> None:
            await password(f"bench{index}@example.com")

        async def round_step(index: int) -> None:
            token = await password(f"bench{index}@example.com")
            answer = await http.post("/oauth/token", data={
                "grant_type": RECOVERY, "mfa_token": token, "recovery_code": codes[index],
                **creds})  # fmt: skip
            if answer.status_code != 200:
                raise RuntimeError(f"recovery grant: {answer.status_code} {answer.text[:200]}")
            codes[index] = answer.json()["recovery_code"]

        management = await http.post("/oauth/token", data={
            "grant_type": "client_credentials", "client_id": ops["client_id"],
            "client_secret": ops["client_secret"], "audience": base + "/api/v2/"})  # fmt: skip
        bearer = {"Authorization": "Bearer " + management.json()["access_token"]}

        async def management_step(index: int) -> None:
            answer = await http.get("/api/v2/users", params={"per_page": 50}, headers=bearer)
            if answer.status_code != 200:
                raise RuntimeError(f"management: {answer.status_code}")

        print(
            f"one provider process, {args.workers} concurrent clients, {args.duration:.0f} s each"
        )
        await measure("password", args.workers, args.duration, password_step)
        await measure("mfa-round", args.workers, args.duration, round_step)
        await measure("management", args.workers, args.duration, management_step)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--port", type=int, default=8200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        base = f"http://127.0.0.1:{args.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROVIDER_")}
        env.update(PROVIDER_DATA_DIR=data, PROVIDER_ISSUER=base + "/", PROVIDER_DEMO="false",
                   PROVIDER_LOG_LEVEL="warning")  # fmt: skip
        cli(env, "mfa", "policy", "always", as_json=False)
        server = subprocess.Popen(
            [sys.executable, "-m", "provider.cli", "serve", "--port", str(args.port)],
            env=env, stdout=subprocess.DEVNULL, stderr=open(Path(data) / "server.log", "w"),
        )  # fmt: skip
        try:
            for _ in range(100):
                try:
                    if httpx.get(base + "/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            asyncio.run(run(args, base, env))
        finally:
            server.terminate()
            server.wait(timeout=15)


if __name__ == "__main__":
    main()
