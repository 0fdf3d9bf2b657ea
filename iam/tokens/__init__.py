"""IAM's own tokens: signing keys and their rotation (`signing`, `key_rotation`), the admin
access and refresh JWTs (`access_tokens`) and the OAuth grants of `/identity/token`
(`oauth_grants`).

May import: `iam.identity`, `iam.store`, `iam.config`, `iam.errors` (and the runtime it is
handed).
"""
