"""Fail loudly unless one POST of a form body to a token endpoint answers 200 with an RS256 JWT
access token; run before each measured load so a misconfigured side cannot post a fast figure
made of errors."""

from __future__ import annotations

import base64
import json
import sys

import httpx


def jwt_part(token: str, index: int) -> dict[str, object]:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def main(url: str, body: str) -> dict[str, object]:
    # trust_env=False: never route through a proxy from the environment; loopback only.
    response = httpx.post(
        url,
        content=body,
        timeout=10,
        trust_env=False,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    if response.status_code != 200:
        sys.exit(f"check failed: {url} answered {response.status_code}: {response.text[:300]}")
    tokens = response.json()
    access = tokens.get("access_token", "")
    if access.count(".") != 2:
        sys.exit(f"check failed: {url} gave no JWT access token: {response.text[:300]}")
    header, claims = jwt_part(access, 0), jwt_part(access, 1)
    if header.get("alg") != "RS256":
        sys.exit(f"check failed: {url} signed with {header.get('alg')}, not RS256")
    return {
        "typ": header.get("typ"),
        "alg": header["alg"],
        "aud": claims.get("aud"),
        "scope": claims.get("scope"),
        "bytes": len(response.content),
    }


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: check_token.py TOKEN_URL FORM_BODY")
    print(f"ok: 200 {json.dumps(main(sys.argv[1], sys.argv[2]))}")
