// One step of an app built on Auth0's official SDK (@auth0/auth0-auth-js), pointed at provider by
// its domain only. tests/test_auth0_sdk.py runs this once per step so that it can compute TOTP
// codes and read mailed codes in between.
//
//   node flow.mjs STEP '{"domain":"127.0.0.1:8443","clientId":"…","clientSecret":"…", …}'
//
// Prints exactly one JSON line on stdout:
//   {"ok":true,"result":…,"requests":[…]}
//   {"ok":false,"error":{"name","code","message","status","error","error_description",
//                        "mfa_token","mfa_requirements"},"requests":[…]}
// `requests` lists what the SDK sent (method, path, status, content type, whether it carried
// Authorization / Auth0-Client) so a failing assertion shows the wire traffic. TLS trust comes
// from NODE_EXTRA_CA_CERTS (the test's self-signed certificate); nothing here disables checks.
// Exit status 0 whether the SDK call succeeded or threw; 2 for a bad invocation.

import { AuthClient } from "@auth0/auth0-auth-js";

const requests = [];

async function recordingFetch(input, init = {}) {
  const url = new URL(input instanceof Request ? input.url : String(input));
  const headers = new Headers(input instanceof Request ? input.headers : undefined);
  new Headers(init.headers ?? {}).forEach((value, key) => headers.set(key, value));
  const entry = {
    method: init.method ?? (input instanceof Request ? input.method : "GET"),
    path: url.pathname,
    content_type: headers.get("content-type"),
    authorization: headers.has("authorization") ? headers.get("authorization").split(" ")[0] : null,
    auth0_client: headers.has("auth0-client"),
  };
  if (typeof init.body === "string" || init.body instanceof URLSearchParams) {
    const text = String(init.body);
    try {
      entry.body_keys = (entry.content_type ?? "").includes("json")
        ? Object.keys(JSON.parse(text)).sort()
        : [...new URLSearchParams(text).keys()].sort();
    } catch {
      entry.body_keys = null;
    }
    if (entry.content_type?.includes("x-www-form-urlencoded")) {
      entry.grant_type = new URLSearchParams(text).get("grant_type");
    }
  }
  requests.push(entry);
  const response = await fetch(input, init);
  entry.status = response.status;
  return response;
}

function tokens(answer) {
  return {
    access_token: answer.accessToken,
    id_token: answer.idToken ?? null,
    refresh_token: answer.refreshToken ?? null,
    token_type: answer.tokenType ?? null,
    scope: answer.scope ?? null,
    expires_at: answer.expiresAt,
    claims: answer.claims ?? null,
    recovery_code: answer.recoveryCode ?? null,
  };
}

function lowLevel(err) {
  const found = [];
  for (let e = err?.cause, depth = 0; e && depth < 4; e = e.cause, depth++) {
    if (typeof e === "object" && (e.code || e.message)) found.push(e.code ? `${e.code}: ${e.message}` : e.message);
  }
  return found.length ? found.join(" <- ") : null;
}

function describe(err) {
  const cause = err?.cause && typeof err.cause === "object" ? err.cause : {};
  return {
    name: err?.name ?? null,
    code: err?.code ?? null,
    message: err?.message ?? String(err),
    status: err?.statusCode ?? null,
    error: cause.error ?? null,
    error_description: cause.error_description ?? null,
    mfa_token: cause.mfa_token ?? null,
    mfa_requirements: cause.mfa_requirements ?? null,
    // Low-level causes (TLS, connection refused, discovery mismatch) live one level deeper.
    detail: lowLevel(err),
  };
}

function need(options, ...names) {
  for (const name of names) {
    if (options[name] === undefined || options[name] === null) {
      throw new UsageError(`option ${name} is required for this step`);
    }
  }
}

class UsageError extends Error {}

const STEPS = {
  // Discovery only: proves TLS trust and that the issuer matches https://{domain}/.
  discover: async (client) => client.getServerMetadata(),

  // POST /oauth/token grant_type=password (form, client_secret_post).
  password: async (client, o) => {
    need(o, "username", "password");
    return tokens(
      await client.getTokenByPassword({
        username: o.username,
        password: o.password,
        scope: o.scope,
        audience: o.audience,
        realm: o.realm,
      }),
    );
  },

  // GET /mfa/authenticators, Bearer = mfa_token (or an MFA-audience access token).
  list: async (client, o) => {
    need(o, "mfaToken");
    return client.mfa.listAuthenticators({ mfaToken: o.mfaToken });
  },

  // POST /mfa/associate (JSON), Bearer = mfa_token.
  "associate-otp": async (client, o) => {
    need(o, "mfaToken");
    return client.mfa.enrollAuthenticator({ authenticatorTypes: ["otp"], mfaToken: o.mfaToken });
  },
  "associate-email": async (client, o) => {
    need(o, "mfaToken");
    return client.mfa.enrollAuthenticator({
      authenticatorTypes: ["oob"],
      oobChannels: ["email"],
      email: o.email,
      mfaToken: o.mfaToken,
    });
  },

  // POST /mfa/challenge (JSON: mfa_token, client_id, client_secret, challenge_type, authenticator_id).
  "challenge-oob": async (client, o) => {
    need(o, "mfaToken");
    return client.mfa.challengeAuthenticator({
      challengeType: "oob",
      authenticatorId: o.authenticatorId,
      mfaToken: o.mfaToken,
    });
  },
  "challenge-otp": async (client, o) => {
    need(o, "mfaToken");
    return client.mfa.challengeAuthenticator({
      challengeType: "otp",
      authenticatorId: o.authenticatorId,
      mfaToken: o.mfaToken,
    });
  },

  // POST /oauth/token with the http://auth0.com/oauth/grant-type/mfa-* grants (form).
  "otp-grant": async (client, o) => {
    need(o, "mfaToken", "otp");
    return tokens(
      await client.mfa.verify({
        mfaToken: o.mfaToken,
        factorType: "otp",
        otp: o.otp,
        audience: o.audience,
      }),
    );
  },
  "oob-grant": async (client, o) => {
    need(o, "mfaToken", "oobCode");
    return tokens(
      await client.mfa.verify({
        mfaToken: o.mfaToken,
        factorType: "oob",
        oobCode: o.oobCode,
        bindingCode: o.bindingCode,
        audience: o.audience,
      }),
    );
  },
  "recovery-grant": async (client, o) => {
    need(o, "mfaToken", "recoveryCode");
    return tokens(
      await client.mfa.verify({
        mfaToken: o.mfaToken,
        factorType: "recovery-code",
        recoveryCode: o.recoveryCode,
        audience: o.audience,
      }),
    );
  },

  // DELETE /mfa/authenticators/{encodeURIComponent(id)}, Bearer = the token given as mfaToken
  // (for provider, as for Auth0: an access token for <issuer>mfa/ with remove:authenticators).
  delete: async (client, o) => {
    need(o, "mfaToken", "authenticatorId");
    await client.mfa.deleteAuthenticator({
      authenticatorId: o.authenticatorId,
      mfaToken: o.mfaToken,
    });
    return { deleted: o.authenticatorId };
  },
};

function emit(value) {
  process.stdout.write(JSON.stringify({ ...value, requests }) + "\n");
}

async function main() {
  const [step, raw] = process.argv.slice(2);
  const run = STEPS[step];
  if (!run) {
    process.stderr.write(`usage: node flow.mjs {${Object.keys(STEPS).join("|")}} '<json options>'\n`);
    process.exit(2);
  }
  let options;
  try {
    options = JSON.parse(raw ?? "{}");
    need(options, "domain", "clientId");
  } catch (err) {
    process.stderr.write(`bad options: ${err.message}\n`);
    process.exit(2);
  }
  const client = new AuthClient({
    domain: options.domain,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    customFetch: recordingFetch,
  });
  try {
    emit({ ok: true, result: await run(client, options) });
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    emit({ ok: false, error: describe(err) });
  }
}

await main();
