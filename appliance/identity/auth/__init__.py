"""Authentication primitives: passwords, keys, tokens, API keys, passkeys, OIDC, rate limits."""
