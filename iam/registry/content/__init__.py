"""The registry's content, through the product: image list, inspect, tag and removal.

The service reaches each registry's distribution API itself (`connection`: its URL, TLS,
timeouts, bounded concurrency), as the caller: for every operation it mints short-lived
tokens whose `sub` is the caller and whose grants are what the caller's policies hold, by
the token path's own grant and signing functions (`credentials`); only the catalog, which
spans every account, is read with a token for the service itself, and its answer is
filtered to the caller's namespaces. `distribution` is the API client, `cache` keeps what
is addressed by digest, `references` parses docker's image names, `manifests` reads what
the registry answers, and one module per operation: `listing`, `inspection`, `tagging`,
`removal`. `service.RegistryContent` holds the parts (built once by the runtime).

May import: `iam.registry`, `iam.tokens`, `iam.access`, `iam.identity`, `iam.store`,
`iam.config`, `iam.errors`.
"""
