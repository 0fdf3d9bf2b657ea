"""Persistence: the engine and sessions (`db`), the tables (`models`), the row helpers every
entity shares (`rows`: get-in-account, guarded update, paging, insert-or-conflict), private
files on disk (`files`), background flushes (`periodic`) and the cache tagged with the
authorization generation (`generation_cache`).

May import: `iam.config`, `iam.errors`, `iam.resources`. Nothing of the domain above it.
"""
