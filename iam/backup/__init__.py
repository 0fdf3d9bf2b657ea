"""Backup and restore: one archive holding everything a service needs to come back — the
database (an online SQLite snapshot, or `pg_dump`), the HMAC secret without which no API key
verifies, the signing keys every registry trusts, and the configuration file.

`archive` writes and restores it, `database` snapshots and restores each backend, `sealing`
encrypts it with a passphrase (scrypt, then AES-256-GCM in authenticated chunks).

May import: `iam.store`, `iam.identity` (the secret's file name), `iam.config`, `iam.errors`.
"""
