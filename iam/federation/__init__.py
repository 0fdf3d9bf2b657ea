"""Robots without long-lived secrets: OIDC issuers an account trusts (`issuers`), their
keys fetched within bounds and cached (`key_fetch`, `issuer_keys`), trusted profiles
(`profiles`) and the claim rules that say who may become one (`claim_rules`, `conditions`),
the check of a workload token (`workload_tokens`), the exchange of such a token for a
profile's principal (`exchange`) and its explanation (`explain`).

May import: `iam.identity`, `iam.audit`, `iam.store`, `iam.config`, `iam.names`,
`iam.errors`. The token services (`iam.tokens`, `iam.registry`) call `exchange`.
"""
