"""What a caller may do: roles as data (`roles`), the policy engine (`authz`: pure evaluation
and the reads it needs; `holdings`: one principal's, read once for many repositories), the
admin API's checks (`guard`), the non-escalation rule
(`delegation`), and the entities access is made of: policies, access groups, namespaces.
The role catalog is an argument everywhere here: the runtime owns the one in use.

May import: `iam.identity`, `iam.audit`, `iam.store`, `iam.config`, `iam.errors`.
"""
