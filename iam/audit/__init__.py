"""What happened: the audit trail (`trail`: events queued in memory, written in batches,
queried by account) and API-key activity (`activity`: last use and use count, batched).

May import: `iam.store`, `iam.config`, `iam.errors`.
"""
