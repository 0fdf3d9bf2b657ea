"""Persistence: the engine and sessions (`db`), the tables (`models`, each naming its public
fields), the change journal a unit of work records its writes in (`journal`), the row
helpers every entity shares (`rows`: get-in-account, insert-or-conflict, guarded update,
change, delete, paging; each write recorded in the caller's journal), private files on disk
(`files`), background flushes (`periodic`) and the cache tagged with the authorization
generation (`generation_cache`).

May import: `iam.config`, `iam.errors`, `iam.resources`. Nothing of the domain above it.
"""
