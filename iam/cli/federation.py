"""Trusted profiles, their claim rules and the OIDC issuers they trust, named like IBM's
`ibmcloud iam trusted-profile-*`: `issuer-add`, `issuers`, `issuer-rm`,
`trusted-profile-create|-update|-delete`, `trusted-profiles`, `trusted-profile-rule-create|
-delete`, `trusted-profile-rules`, `trusted-profile-policy-create|-policies|-policy-delete`,
`trusted-profile-test` and `access-group-trusted-profile-add|-remove`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from iam.cli.app import app
from iam.cli.client import Api, Force, Format, OutputOpt, confirm_delete, done, emit, fail
from iam.cli.policies import _add_members, _policy_commands, _remove_members

ISSUER_COLUMNS = ["id", "url", "audiences", "keys", "allow_http", "max_token_age"]
PROFILE_COLUMNS = ["id", "name", "description", "created_at"]
RULE_COLUMNS = ["id", "name", "issuer", "expiration", "conditions"]
OPERATORS = ("NOT_EQUALS_IGNORE_CASE", "EQUALS_IGNORE_CASE", "NOT_EQUALS", "EQUALS",
             "CONTAINS", "IN")
Description = Annotated[str | None, typer.Option("--description", "-d", help="Description")]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        fail(f"cannot read {path} as JSON: {exc}")


# --- issuers -------------------------------------------------------------------------------

def _issuer(api: Api, ref: str) -> dict[str, Any]:
    """An issuer by its Issuer-... id or its URL."""
    if ref.startswith("Issuer-"):
        return dict(api.get(f"/v1/issuers/{ref}"))
    found = [i for i in api.get_all("/v1/issuers") if i["url"] == ref]
    if not found:
        fail(f"no issuer {ref!r} is registered in this account; see `iam issuers`")
    return dict(found[0])


@app.command("issuer-add")
def issuer_add(
    url: Annotated[str, typer.Argument(help="The issuer's `iss`, exactly, e.g. "
                                            "https://token.actions.githubusercontent.com")],
    audience: Annotated[list[str], typer.Option(
        "--audience", "-a", help="An `aud` its tokens must carry (repeat for several)")],
    jwks_file: Annotated[Path | None, typer.Option(
        "--jwks-file", help="Static keys (a JWK Set file) instead of OIDC discovery, for "
                            "air-gapped issuers")] = None,
    allow_http: Annotated[bool, typer.Option(
        "--allow-http", help="Accept a plain-http issuer (labs and tests only: its keys "
                             "could be forged on the way)")] = False,
    algorithm: Annotated[list[str] | None, typer.Option(
        "--algorithm", help="RS256 or ES256 (repeat; default both)")] = None,
    max_token_age: Annotated[int | None, typer.Option(
        help="Oldest token accepted, seconds since its iat (60-86400; default 3600)")] = None,
    description: Description = None,
    output: OutputOpt = Format.table,
) -> None:
    """Trust an OIDC issuer's workload tokens (GitHub Actions, GitLab, a cluster)."""
    body: dict[str, Any] = {"url": url, "audiences": audience, "allow_http": allow_http,
                            "description": description, "max_token_age": max_token_age,
                            "algorithms": algorithm or None}
    if jwks_file is not None:
        body["jwks"] = _read_json(jwks_file)
    emit(Api().post("/v1/issuers", body), output, ISSUER_COLUMNS)


@app.command("issuers")
def issuers(output: OutputOpt = Format.table) -> None:
    """The OIDC issuers this account trusts."""
    emit(Api().get_all("/v1/issuers"), output, ISSUER_COLUMNS)


@app.command("issuer-rm")
def issuer_rm(issuer: Annotated[str, typer.Argument(help="Issuer-... id or URL")],
              force: Force = False, output: OutputOpt = Format.table) -> None:
    """Remove an issuer (refused while a claim rule names it)."""
    api = Api()
    found = _issuer(api, issuer)
    confirm_delete(f"issuer {found['url']}", force)
    api.delete(f"/v1/issuers/{found['id']}")
    done({"id": found["id"], "url": found["url"], "deleted": True}, output,
         f"Issuer {found['url']} removed")


# --- trusted profiles -----------------------------------------------------------------------

def _profile(api: Api, ref: str) -> dict[str, Any]:
    """A profile by its Profile-... id, iam_id or unique name."""
    if ref.startswith(("Profile-", "iam-Profile-")):
        return dict(api.get(f"/v1/profiles/{ref}"))
    found = api.get_all("/v1/profiles", name=ref)
    if len(found) != 1:
        fail(f"no trusted profile is named {ref!r}; see `iam trusted-profiles`")
    return dict(found[0])


@app.command("trusted-profile-create")
def trusted_profile_create(name: str, description: Description = None,
                           output: OutputOpt = Format.table) -> None:
    """Create a trusted profile: an identity without keys that workloads become by the
    claims in their OIDC tokens (add rules and policies next)."""
    emit(Api().post("/v1/profiles", {"name": name, "description": description}), output,
         [*PROFILE_COLUMNS, "iam_id"])


@app.command("trusted-profiles")
def trusted_profiles(output: OutputOpt = Format.table) -> None:
    """The account's trusted profiles."""
    emit(Api().get_all("/v1/profiles"), output, PROFILE_COLUMNS)


@app.command("trusted-profile-update")
def trusted_profile_update(profile: str,
                           name: Annotated[str | None, typer.Option("--name", "-n")] = None,
                           description: Description = None,
                           output: OutputOpt = Format.table) -> None:
    """Rename or re-describe a trusted profile."""
    api = Api()
    found = _profile(api, profile)
    emit(api.put(f"/v1/profiles/{found['id']}", {"name": name, "description": description},
                 if_match=found["entity_tag"]), output, PROFILE_COLUMNS)


@app.command("trusted-profile-delete")
def trusted_profile_delete(profile: str, force: Force = False,
                           output: OutputOpt = Format.table) -> None:
    """Delete a trusted profile with its claim rules, memberships and policies."""
    api = Api()
    found = _profile(api, profile)
    confirm_delete(f"trusted profile {found['name']} with its rules and policies", force)
    api.delete(f"/v1/profiles/{found['id']}")
    done({"id": found["id"], "name": found["name"], "deleted": True}, output,
         f"Trusted profile {found['name']} deleted")


# --- claim rules ---------------------------------------------------------------------------

def parse_condition(text: str) -> dict[str, Any]:
    """`CLAIM OPERATOR VALUE` (`ref EQUALS refs/heads/main`); IN takes comma-separated
    values (`ref IN main,release`)."""
    for operator in OPERATORS:
        claim, sep, value = text.partition(f" {operator} ")
        if sep and claim.strip() and value:
            parsed: Any = [v.strip() for v in value.split(",")] if operator == "IN" else value
            return {"claim": claim.strip(), "operator": operator, "value": parsed}
    fail(f"condition {text!r} is not 'CLAIM OPERATOR VALUE' with an operator among "
         f"{', '.join(sorted(OPERATORS))}")


@app.command("trusted-profile-rule-create")
def trusted_profile_rule_create(
    profile: str,
    name: Annotated[str, typer.Option("--name", help="The rule's name")],
    issuer: Annotated[str, typer.Option("--issuer", help="The issuer's URL (registered)")],
    condition: Annotated[list[str], typer.Option(
        "--condition", "-c", help="'CLAIM OPERATOR VALUE', e.g. 'repository EQUALS acme/web' "
                                  "or 'kubernetes.io.namespace IN builds,ci' (repeat: all "
                                  "must hold)")],
    expiration: Annotated[int | None, typer.Option(
        help="Most seconds a session lasts (60-43200; default 3600)")] = None,
    output: OutputOpt = Format.table,
) -> None:
    """Let workloads whose tokens meet every condition become the profile."""
    api = Api()
    found = _profile(api, profile)
    body = {"name": name, "type": "Profile-OIDC", "issuer": issuer,
            "conditions": [parse_condition(c) for c in condition], "expiration": expiration}
    emit(api.post(f"/v1/profiles/{found['id']}/rules", body), output, RULE_COLUMNS)


@app.command("trusted-profile-rules")
def trusted_profile_rules(profile: str, output: OutputOpt = Format.table) -> None:
    """The claim rules of a trusted profile."""
    api = Api()
    found = _profile(api, profile)
    rules = api.get(f"/v1/profiles/{found['id']}/rules")["data"]
    if output == Format.table:
        for rule in rules:
            rule["conditions"] = [f"{c['claim']} {c['operator']} {c['value']}"
                                  for c in rule["conditions"]]
    emit(rules, output, RULE_COLUMNS)


@app.command("trusted-profile-rule-delete")
def trusted_profile_rule_delete(profile: str, rule_id: str, force: Force = False,
                                output: OutputOpt = Format.table) -> None:
    """Delete a claim rule; the sessions it opened end."""
    api = Api()
    found = _profile(api, profile)
    confirm_delete(f"claim rule {rule_id}", force)
    api.delete(f"/v1/profiles/{found['id']}/rules/{rule_id}")
    done({"profile": found["id"], "id": rule_id, "deleted": True}, output,
         f"Claim rule {rule_id} deleted")


@app.command("trusted-profile-test")
def trusted_profile_test(
    profile: str,
    token: Annotated[str, typer.Option(
        "--token", help="The workload's JWT; '@FILE' reads it from a file, '-' from "
                        "standard input")],
    output: OutputOpt = Format.table,
) -> None:
    """Would this token become the profile? Says which rule matched, or for each rule
    which check or condition failed. Exit 1 when none matched."""
    if token == "-":  # noqa: S105 (the standard-input marker)
        token = sys.stdin.read().strip()
    elif token.startswith("@"):
        try:
            token = Path(token[1:]).read_text().strip()
        except OSError as exc:
            fail(f"cannot read {token[1:]}: {exc.strerror}")
    api = Api()
    found = _profile(api, profile)
    answer = api.post(f"/v1/profiles/{found['id']}/test", {"token": token})
    if output == Format.json:
        emit(answer, output)
    else:
        if answer["matched"]:
            typer.echo(f"matched: rule {answer['matched_rule']}")
        else:
            problem = answer["token_problem"]
            typer.echo(f"no rule matched{': ' + problem if problem else ''}")
        for rule in answer["rules"]:
            mark = "matches" if rule["matched"] else "fails"
            typer.echo(f"  {rule['rule_id']} ({rule['name']}): {mark}")
            for why in rule["failures"]:
                typer.echo(f"    - {why}")
    if not answer["matched"]:
        raise typer.Exit(1)


# --- policies and groups -------------------------------------------------------------------

def _profile_iam_id(api: Api, ref: str) -> str:
    return str(_profile(api, ref)["iam_id"])


# trusted-profile-policy-create, trusted-profile-policies, trusted-profile-policy-delete
_policy_commands(
    "trusted-profile", "profile", "iam_id", _profile_iam_id,
    create_help="Give a trusted profile (id or name) roles on a service, optionally on one "
                "namespace and repositories.",
    list_help="The policies of a trusted profile.",
    delete_help="Delete a policy of a trusted profile.")


@app.command("access-group-trusted-profile-add")
def access_group_trusted_profile_add(group: str, profiles: list[str],
                                     output: OutputOpt = Format.table) -> None:
    """Add trusted profiles (ids or names) to an access group."""
    api = Api()
    _add_members(group, [_profile_iam_id(api, p) for p in profiles], api, output)


@app.command("access-group-trusted-profile-remove")
def access_group_trusted_profile_remove(group: str, profiles: list[str],
                                        output: OutputOpt = Format.table) -> None:
    """Remove trusted profiles from an access group."""
    api = Api()
    _remove_members(group, [_profile_iam_id(api, p) for p in profiles], api, output)
