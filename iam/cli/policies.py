"""Policy, access-group and access-check commands, named like IBM's CLI
(`ibmcloud iam service-policy-create`, `ibmcloud iam access-group-create`, ...);
namespaces are in `iam.cli.namespaces`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from iam.cli.app import app
from iam.cli.client import Api, Force, Format, OutputOpt, confirm_delete, done, emit, fail
from iam.names import name_key

POLICY_COLUMNS = ["id", "subject", "roles", "resource"]
GROUP_COLUMNS = ["id", "name", "description", "created_at"]
MEMBER_COLUMNS = ["iam_id", "type", "created_at"]
DENIED, CHECK_FAILED = 1, 2  # access-check's exit codes (0: allowed)
Roles = Annotated[str, typer.Option("--roles", help="Comma-separated role names, e.g. "
                                                   "Manager,Administrator")]
ServiceName = Annotated[str, typer.Option("--service-name", help="e.g. container-registry")]
OptRoles = Annotated[str | None, typer.Option(
    "--roles", help="The new roles, comma-separated [default: unchanged]")]
OptServiceName = Annotated[str | None, typer.Option(
    "--service-name", help="e.g. container-registry [default: the policy's]")]
UPDATE_HELP = (
    "Change the roles or the resource of a policy of {subject} (PUT /v1/policies/ID, under "
    "the same rule as creating it: you need Administrator over both the old and the new "
    "scope). --roles replaces the roles; any resource option (--region, --resource-type, "
    "--resource, --repository, --service-name) replaces the whole resource, an omitted one "
    "meaning any; with none, the resource stays as it is.")
OptRegion = Annotated[str | None, typer.Option("--region", help="Region; omitted = every "
                                                                "region")]
ResourceType = Annotated[str | None, typer.Option("--resource-type", help="namespace")]
Resource = Annotated[str | None, typer.Option("--resource", help="The namespace's name; "
                                                                "omitted = every namespace")]
Repository = Annotated[str | None, typer.Option(
    "--repository", help="Glob of repositories inside the namespace, e.g. 'web-*'")]


# --- subjects ------------------------------------------------------------------------------

def _service_id(api: Api, ref: str) -> str:
    """A service ID's iam_id, from its iam_id, its ServiceId-... id or its unique name."""
    if ref.startswith("iam-ServiceId-"):
        return ref
    if ref.startswith("ServiceId-"):
        return f"iam-{ref}"
    found = api.get_all("/v1/serviceids", name=ref)  # compared by name key, as for users
    if len(found) != 1:
        fail(f"{len(found)} service IDs are named {ref!r}; use the ServiceId-... id")
    return str(found[0]["iam_id"])


def _user(api: Api, ref: str) -> str:
    if ref.startswith("iam-User-"):
        return ref
    key = name_key(ref)  # as the server compares names: `RTAlice` finds `rtalice`
    found = [u for u in api.get_all("/v1/users") if name_key(u["name"]) == key]
    if len(found) != 1:
        fail(f"no user is named {ref!r}; use its iam-User-... id")
    return str(found[0]["iam_id"])


def _group(api: Api, ref: str) -> str:
    if ref.startswith("AccessGroup-"):
        return ref
    key = name_key(ref)
    found = [g for g in api.get_all("/v1/groups") if name_key(g["name"]) == key]
    if len(found) != 1:
        fail(f"no access group is named {ref!r}; use its AccessGroup-... id")
    return str(found[0]["id"])


# --- policies ------------------------------------------------------------------------------

def _policy_body(subject: dict[str, str], roles: str, service_name: str, region: str | None,
                 resource_type: str | None, resource: str | None,
                 repository: str | None) -> dict[str, Any]:
    if resource and not resource_type:
        resource_type = "namespace"
    target = {"service": service_name, "region": region, "resource_type": resource_type,
              "resource": resource, "repository": repository}
    return {"subject": subject, "roles": [r.strip() for r in roles.split(",") if r.strip()],
            "resource": {k: v for k, v in target.items() if v}}


def _updated_body(current: dict[str, Any], roles: str | None, service_name: str | None,
                  region: str | None, resource_type: str | None, resource: str | None,
                  repository: str | None) -> dict[str, Any]:
    """The policy's new body: roles replaced if given; the resource rebuilt from the resource
    options if any is given (the service kept unless named), else kept as it is."""
    if roles is None and all(v is None for v in (service_name, region, resource_type,
                                                  resource, repository)):
        fail("nothing to change: give --roles, or resource options (--region, --resource, "
             "--repository...)")
    body = _policy_body(current["subject"], roles if roles is not None else
                        ",".join(current["roles"]),
                        service_name or current["resource"]["service"], region,
                        resource_type, resource, repository)
    if all(v is None for v in (service_name, region, resource_type, resource, repository)):
        body["resource"] = current["resource"]
    return body


def _policy_of(api: Api, policy_id: str, subject: dict[str, str], verb: str) -> dict[str, Any]:
    """The policy, only if it is the named subject's: a policy id copied from another
    identity's listing must not change or delete that identity's access."""
    found: dict[str, Any] = api.get(f"/v1/policies/{policy_id}")
    if found.get("subject") != subject:
        fail(f"policy {policy_id} is not a policy of {next(iter(subject.values()))}; "
             f"nothing was {verb}")
    return found


def _delete_policy(api: Api, policy_id: str, force: bool, subject: dict[str, str],
                   output: Format) -> None:
    _policy_of(api, policy_id, subject, "deleted")
    confirm_delete(f"policy {policy_id}", force)
    api.delete(f"/v1/policies/{policy_id}")
    done({"id": policy_id, "deleted": True}, output, f"Policy {policy_id} deleted")


def _policy_commands(prefix: str, argument: str, key: str, resolve: Callable[[Api, str], str],
                     *, create_help: str, list_help: str, delete_help: str) -> None:
    """`<prefix>-policy-create`, `<prefix>-policies`, `<prefix>-policy-update` and
    `<prefix>-policy-delete` for one kind of subject: the command's first argument (shown as
    `argument`) is resolved to the id the policy's subject names under `key` (`iam_id`,
    `access_group_id`)."""

    def subject(api: Api, ref: str) -> dict[str, str]:
        return {key: resolve(api, ref)}

    @app.command(f"{prefix}-policy-create", help=create_help)
    def create(ref: str = typer.Argument(metavar=argument), *, roles: Roles,
               service_name: ServiceName, region: OptRegion = None,
               resource_type: ResourceType = None, resource: Resource = None,
               repository: Repository = None, output: OutputOpt = Format.table) -> None:
        api = Api()
        body = _policy_body(subject(api, ref), roles, service_name, region, resource_type,
                            resource, repository)
        emit(api.post("/v1/policies", body), output, POLICY_COLUMNS)

    @app.command(f"{prefix}-policies", help=list_help)
    def list_(ref: str = typer.Argument(metavar=argument),
              output: OutputOpt = Format.table) -> None:
        api = Api()
        emit(api.get_all("/v1/policies", **subject(api, ref)), output, POLICY_COLUMNS)

    @app.command(f"{prefix}-policy-update", help=UPDATE_HELP.format(subject=argument))
    def update(ref: str = typer.Argument(metavar=argument), policy_id: str = typer.Argument(),
               *, roles: OptRoles = None, service_name: OptServiceName = None,
               region: OptRegion = None, resource_type: ResourceType = None,
               resource: Resource = None, repository: Repository = None,
               output: OutputOpt = Format.table) -> None:
        api = Api()
        current = _policy_of(api, policy_id, subject(api, ref), "changed")
        body = _updated_body(current, roles, service_name, region, resource_type, resource,
                             repository)
        emit(api.put(f"/v1/policies/{policy_id}", body, if_match=current["entity_tag"]),
             output, POLICY_COLUMNS)

    @app.command(f"{prefix}-policy-delete", help=delete_help)
    def delete(ref: str = typer.Argument(metavar=argument), policy_id: str = typer.Argument(),
               force: Force = False, output: OutputOpt = Format.table) -> None:
        api = Api()
        _delete_policy(api, policy_id, force, subject(api, ref), output)


# service-policy-create, service-policies, service-policy-update, service-policy-delete
_policy_commands(
    "service", "service_id", "iam_id", _service_id,
    create_help="Give a service ID roles on a service, optionally on one namespace and "
                "repositories.",
    list_help="The policies of a service ID.", delete_help="Delete a policy of a service ID.")
# user-policy-create, user-policies, user-policy-update, user-policy-delete
_policy_commands(
    "user", "user", "iam_id", _user,
    create_help="Give a user (iam-User-... id or name) roles on a service.",
    list_help="The policies of a user.", delete_help="Delete a policy of a user.")


# --- access groups -------------------------------------------------------------------------

@app.command("access-group-create")
def access_group_create(name: str,
                        description: Annotated[str | None, typer.Option("--description",
                                                                        "-d")] = None,
                        output: OutputOpt = Format.table) -> None:
    """Create an access group."""
    emit(Api().post("/v1/groups", {"name": name, "description": description}), output,
         GROUP_COLUMNS)


@app.command("access-groups")
def access_groups(output: OutputOpt = Format.table) -> None:
    """List the account's access groups."""
    emit(Api().get_all("/v1/groups"), output, GROUP_COLUMNS)


@app.command("access-group-delete")
def access_group_delete(group: str, force: Force = False,
                        output: OutputOpt = Format.table) -> None:
    """Delete an access group with its memberships and policies."""
    api = Api()
    group_id = _group(api, group)
    confirm_delete(f"access group {group}", force)
    api.delete(f"/v1/groups/{group_id}")
    done({"id": group_id, "deleted": True}, output, f"Access group {group} deleted")


def _add_members(group: str, iam_ids: list[str], api: Api, output: Format) -> None:
    """Each member in turn, stopping at the first refusal (the earlier ones stay added)."""
    group_id = _group(api, group)
    added = []
    for iam_id in iam_ids:
        added.append(api.post(f"/v1/groups/{group_id}/members", {"iam_id": iam_id}))
        if output != Format.json:
            typer.echo(f"{iam_id} added to {group}")
    if output == Format.json:
        emit(added, output)


@app.command("access-group-service-id-add")
def access_group_service_id_add(group: str, service_ids: list[str],
                                output: OutputOpt = Format.table) -> None:
    """Add service IDs (ids or names) to an access group."""
    api = Api()
    _add_members(group, [_service_id(api, s) for s in service_ids], api, output)


@app.command("access-group-user-add")
def access_group_user_add(group: str, users: list[str],
                          output: OutputOpt = Format.table) -> None:
    """Add users (iam-User-... ids or names) to an access group."""
    api = Api()
    _add_members(group, [_user(api, u) for u in users], api, output)


def _remove_members(group: str, iam_ids: list[str], api: Api, output: Format) -> None:
    group_id = _group(api, group)
    removed = []
    for iam_id in iam_ids:
        api.delete(f"/v1/groups/{group_id}/members/{iam_id}")
        removed.append({"group_id": group_id, "iam_id": iam_id, "removed": True})
        if output != Format.json:
            typer.echo(f"{iam_id} removed from {group}")
    if output == Format.json:
        emit(removed, output)


@app.command("access-group-service-id-remove")
def access_group_service_id_remove(group: str, service_ids: list[str],
                                   output: OutputOpt = Format.table) -> None:
    """Remove service IDs from an access group."""
    api = Api()
    _remove_members(group, [_service_id(api, s) for s in service_ids], api, output)


@app.command("access-group-user-remove")
def access_group_user_remove(group: str, users: list[str],
                             output: OutputOpt = Format.table) -> None:
    """Remove users from an access group."""
    api = Api()
    _remove_members(group, [_user(api, u) for u in users], api, output)


@app.command("access-group-members")
def access_group_members(group: str, output: OutputOpt = Format.table) -> None:
    """The members of an access group."""
    api = Api()
    emit(api.get_all(f"/v1/groups/{_group(api, group)}/members"), output, MEMBER_COLUMNS)


# access-group-policy-create, access-group-policies, access-group-policy-update,
# access-group-policy-delete
_policy_commands(
    "access-group", "group", "access_group_id", _group,
    create_help="Give every member of an access group roles on a service.",
    list_help="The policies of an access group.",
    delete_help="Delete a policy of an access group.")


# --- explain -------------------------------------------------------------------------------

@app.command("access-check")
def access_check(
    iam_id: str, action: str,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    region: Annotated[str, typer.Option("--region", "-r")] = "",
    repository: Annotated[str | None, typer.Option("--repository")] = None,
    output: OutputOpt = Format.table,
) -> None:
    """Is ACTION allowed to IAM_ID (on namespace NS), which policies grant it, and why.

    Exits 0 when allowed, 1 when denied, 2 when it could not be asked (not logged in, an
    unknown identity, the server unreachable), so scripts can test it."""
    try:
        api = Api()
        if not iam_id.startswith("iam-"):
            iam_id = _service_id(api, iam_id)
        resource: dict[str, str] = {"service": action.split(".", 1)[0], "region": region}
        if namespace:
            resource.update(resource_type="namespace", resource=namespace)
        if repository:
            resource["repository"] = repository
        answer = api.post("/v1/authz/check", {"iam_id": iam_id, "action": action,
                                              "resource": resource})
    except typer.Exit as exc:
        raise typer.Exit(CHECK_FAILED) from exc
    if output == Format.json:
        emit(answer, output)
    else:
        typer.echo("allowed" if answer["allowed"] else "denied")
        for grant in answer["granted_by"]:
            typer.echo(f"  granted by {grant['policy_id']} ({', '.join(grant['roles'])})")
        typer.echo(f"reason: {answer['reason']}")
    if not answer["allowed"]:
        raise typer.Exit(DENIED)
