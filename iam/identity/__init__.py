"""Who is calling: accounts, service IDs, users, API keys (`apikey_format` for the value,
`apikeys` for the records), passwords, names and their comparison key, the server's HMAC
secret, authentication of every credential (`authn`), and the attempt around it (`attempts`:
the failure limits of `ratelimit` and the record of every failure).

May import: `iam.audit`, `iam.store`, `iam.config`, `iam.errors`. `attempts.Attempts` is
built by the runtime from the parts it uses; nothing here sees the runtime itself.
"""
