"""IAM's own tokens: signing keys and their rotation (`signing`, `key_rotation`), the admin
access and refresh JWTs (`access_tokens`) and the OAuth grants of `/identity/token`
(`oauth_grants`).

May import: `iam.identity`, `iam.store`, `iam.config`, `iam.errors`.
`oauth_grants.IdentityTokens` is built by the runtime from the parts it uses.
"""
