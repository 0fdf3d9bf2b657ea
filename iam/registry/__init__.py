"""The docker registry's side: the scope grammar (`scopes`), Basic credentials
(`basic_auth`), what a principal's policies grant per scope (`grant`), the token's claims
(`claims`), the token service that puts them together (`token_service`) and the trust
configuration a registry needs (`trust_config`); the registry content through the product
(`content/`), and namespace removal (`namespace_removal`, `namespace_sweep`) and
`namespace-list`'s counts (`namespace_listing`) on top of it.

May import: `iam.tokens`, `iam.access`, `iam.identity`, `iam.audit`, `iam.store`,
`iam.config`, `iam.errors`.
"""
