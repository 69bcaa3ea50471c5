"""The Auth0-compatible password grant and MFA API for first-party clients
(docs/ropg-mfa.md; the wire contract is Auth0's). It is a second front door to the same MFA
engine the hosted pages use: an `mfa_token` is a handle on an MFA transaction."""
