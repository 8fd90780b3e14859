"""Authentication primitives: passwords, signing keys, access and refresh tokens, API keys, passkeys, OIDC, rate limits."""
