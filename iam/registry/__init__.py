"""The docker registry's side: the scope grammar (`scopes`), Basic credentials
(`basic_auth`), what a principal's policies grant per scope (`grant`), the token's claims
(`claims`), the token service that puts them together (`token_service`) and the trust
configuration a registry needs (`trust_config`); the registry's content, reached as the
caller (`content/`: image list, inspect, tag, removal).

May import: `iam.tokens`, `iam.access`, `iam.identity`, `iam.audit`, `iam.store`,
`iam.config`, `iam.errors`.
"""
