"""The console in a real browser: Debian's Chromium driven by Playwright against the real
`iam serve`, two real `docker-registry` and skopeo. The seed's story clicked through end to
end; a Reader's view and its forged request; keyboard use; an axe-core scan of every page;
`/docs` and `/redoc` with the network cut off. One server and one browser for the module.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.browser_env import axe_source, axe_violations, have_browser, launch, screenshot
from tests.registry_env import (
    REGISTRY_BIN,
    SKOPEO_BIN,
    Environment,
    Skopeo,
    build_image,
    build_index,
    create_namespace,
    create_robot,
    start_environment,
)

pytestmark = [
    pytest.mark.registry, pytest.mark.server,
    pytest.mark.skipif(not (have_browser() and all(os.path.exists(b)
                                                   for b in (REGISTRY_BIN, SKOPEO_BIN))),
                       reason="chromium, npm, docker-registry or skopeo missing: run "
                              "scripts/ensure-system.sh (make test does)"),
]
US = "registry.us"


@dataclass
class Stage:
    env: Environment
    skopeo: Skopeo
    browser: Any
    root: Path
    reader_key: str = field(default="", repr=False)

    @property
    def url(self) -> str:
        return self.env.server.url

    @property
    def host(self) -> str:
        return self.env.registries[US].host

    def page(self, *, bypass_csp: bool = False) -> Any:
        context = self.browser.new_context(base_url=self.url, bypass_csp=bypass_csp,
                                           viewport={"width": 1280, "height": 900})
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=self.url)
        return context.new_page()

    def push(self, layout: Path, name: str, key: str) -> None:
        r = self.skopeo.copy(f"oci:{layout}:latest", f"docker://{self.host}/{name}",
                             dest_key=key, all_platforms=True)
        assert r.code == 0, r.output


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    from playwright.sync_api import sync_playwright

    root = tmp_path_factory.mktemp("console-browser")
    env = start_environment(root / "env", content=True)
    try:
        with sync_playwright() as playwright:
            browser = launch(playwright)
            try:
                yield Stage(env, Skopeo(root / "skopeo"), browser, root)
            finally:
                browser.close()
    finally:
        env.stop()


@pytest.fixture(scope="module")
def team_r(stage: Stage) -> Stage:
    """Namespace team-r with one image (a two-platform index) pushed by a Writer, and a
    Reader's key: what the Reader, accessibility and docs tests look at."""
    create_namespace(stage.env, "team-r", "us-south")
    writer = create_robot(stage.env, "r-writer", [("Writer", "team-r", "us-south")])
    layout = stage.root / "index"
    build_index(layout, labels={"org.opencontainers.image.title": "app"})
    stage.push(layout, "team-r/app:1.0", writer.apikey)
    stage.reader_key = create_robot(stage.env, "r-reader",
                                    [("Reader", "team-r", "us-south")]).apikey
    return stage


def sign_in(page: Any, apikey: str) -> None:
    page.goto("/console/signin")
    page.get_by_role("textbox", name="API key", exact=True).fill(apikey)
    page.get_by_role("button", name="Sign in").first.click()
    page.wait_for_url("**/console")


def nav(page: Any, name: str) -> Any:
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name)


def csp_errors(page: Any) -> list[str]:
    found: list[str] = []
    page.on("console", lambda m: found.append(m.text)
            if "Content Security Policy" in m.text else None)
    return found


def test_owner_story_from_namespace_to_pushed_image_and_its_removal(stage: Stage) -> None:
    """The seed's story: team-a, ci-robot with Administrator and Manager, its key copied from
    the page; skopeo pushes with it; the image listed, inspected, one tag removed (the page
    naming the tag going with it), then the repository."""
    page = stage.page()
    refused = csp_errors(page)
    visited: list[str] = []
    page.on("request", lambda request: visited.append(request.url))
    sign_in(page, stage.env.owner_key)
    cookie = next(c for c in page.context.cookies() if c["name"] == "iam_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"

    nav(page, "Namespaces").click()
    page.get_by_label("Name", exact=True).fill("team-a")
    page.get_by_label("Region", exact=True).select_option("us-south")
    page.get_by_role("button", name="Add").click()
    assert page.get_by_role("cell", name="team-a", exact=True).is_visible()
    screenshot(page, "namespaces")

    nav(page, "Service IDs").click()
    page.get_by_label("Name", exact=True).fill("ci-robot")
    page.get_by_role("button", name="Create", exact=True).click()
    page.wait_for_url(re.compile(r".*/console/serviceids/iam-ServiceId-.*"))
    assign = page.locator("form", has=page.get_by_role("heading",
                                                       name="Assign container-registry roles"))
    assign.get_by_label(re.compile("^Administrator")).check()
    assign.get_by_label(re.compile("^Manager")).check()
    assign.get_by_label("Region", exact=True).fill("us-south")
    assign.get_by_label("Namespace", exact=True).fill("team-a")
    assign.get_by_role("button", name="Assign").click()
    policy = page.get_by_role("row", name=re.compile("namespace team-a in us-south"))
    assert "Manager" in policy.inner_text() and "Administrator" in policy.inner_text()
    assert "docker push" in policy.inner_text()
    screenshot(page, "service-id")

    page.get_by_label("Key name", exact=True).fill("ci-key")
    page.get_by_role("button", name="Create key").click()
    shown = page.locator("#new-key").input_value()
    page.get_by_role("button", name="Copy the key").click()
    page.get_by_text("Copied to the clipboard.").first.wait_for()
    key = page.evaluate("navigator.clipboard.readText()")
    assert key == shown and key.startswith("riam_") and len(key) == 54
    assert (f"docker login {stage.host} -u iamapikey --password-stdin"
            in page.locator("#login-line").input_value().splitlines())
    screenshot(page, "key-created", mask=("#new-key",))

    old, new = stage.root / "web-1", stage.root / "web-2"
    build_image(old)
    build_image(new)
    stage.push(old, "team-a/web:1.0", key)
    stage.push(new, "team-a/web:2.0", key)
    stage.push(new, "team-a/web:latest", key)

    page.goto("/console")
    nav(page, "Images").click()
    page.get_by_label("Show the images of namespace", exact=True).fill("team-a")
    page.get_by_label("Region", exact=True).select_option("us-south")
    page.get_by_role("button", name="Show").click()
    for tag in ("1.0", "2.0", "latest"):
        assert page.get_by_role("cell", name=tag, exact=True).is_visible()
    screenshot(page, "images")
    page.get_by_role("link", name="Inspect 1.0").click()
    assert page.get_by_role("heading", name="Platform linux/amd64").is_visible()
    assert "application/vnd.oci.image.layer.v1.tar+gzip" in page.content()
    screenshot(page, "image-inspect")
    page.go_back()

    page.get_by_label("Source image", exact=True).fill(f"{stage.host}/team-a/web:1.0")
    page.get_by_label("New tag", exact=True).fill(f"{stage.host}/team-a/web:1.0-stable")
    page.get_by_role("button", name="Copy", exact=True).click()
    copied = page.get_by_role("row", name=re.compile(r"^1\.0-stable"))
    original = page.get_by_role("row", name=re.compile(r"^1\.0 "))
    assert copied.locator("code").inner_text() == original.locator("code").inner_text()

    page.get_by_role("link", name="Remove latest…").click()
    going = page.locator(".secret li").all_inner_texts()
    assert sorted(t.rsplit(":", 1)[1] for t in going) == ["2.0", "latest"]
    page.get_by_role("button", name=re.compile("^Remove the image")).click()
    assert "These tags went with it: 2.0." in page.get_by_role("status").inner_text()
    page.get_by_role("link", name="Back to the images").click()
    assert page.get_by_role("cell", name="1.0", exact=True).is_visible()
    assert page.get_by_role("cell", name="1.0-stable", exact=True).is_visible()
    assert page.get_by_role("cell", name="latest", exact=True).count() == 0

    page.get_by_role("link", name="Remove repository team-a/web…").click()
    page.get_by_label(re.compile("to confirm")).fill("team-a/web")
    page.get_by_role("button", name="Remove the repository").click()
    screenshot(page, "after-repository-remove")
    assert page.get_by_text("No images in team-a.").is_visible(), page.content()[-3000:]
    assert refused == []
    for secret in (key, stage.env.owner_key):  # in no URL, no log line
        assert secret not in stage.env.server.logs()
        assert all(secret not in url for url in visited)
    page.context.close()


def test_a_reader_sees_images_but_no_remove_button_and_its_forged_remove_is_refused(
        team_r: Stage) -> None:
    page = team_r.page()
    sign_in(page, team_r.reader_key)
    page.goto("/console/images?namespace=team-r&region=us-south")
    assert page.get_by_role("cell", name="1.0", exact=True).is_visible()
    assert page.get_by_role("link", name=re.compile("^Remove")).count() == 0
    assert page.get_by_role("heading", name=re.compile("Copy a tag")).count() == 0
    screenshot(page, "reader-images")
    csrf = page.locator("input[name=csrf_token]").first.input_value()
    image = f"{team_r.host}/team-r/app:1.0"
    forged = page.request.post("/console/images/remove", form={
        "csrf_token": csrf, "image": image, "namespace": "team-r", "region": "us-south"})
    assert forged.status == 403
    assert "container-registry.image.delete" in forged.text()
    page.reload()
    assert page.get_by_role("cell", name="1.0", exact=True).is_visible()
    page.context.close()


def test_sign_in_and_moving_around_work_by_keyboard(stage: Stage) -> None:
    page = stage.page()
    page.goto("/console/signin")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "f-apikey"
    page.keyboard.type(stage.env.owner_key)
    page.keyboard.press("Enter")
    page.wait_for_url("**/console")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # skip to the content
    assert page.url.endswith("#main")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.tagName") == "A"
    page.context.close()


def test_every_console_page_has_no_critical_accessibility_violation(team_r: Stage) -> None:
    """axe-core (npm) on each page, signed in as the owner and with a little of each kind."""
    env = team_r.env
    robot = create_robot(env, "a11y-robot", [("Reader", "team-r", "us-south")])
    env.api("POST", "/v1/users", json={"name": "a11y-user",
                                       "password": "correct horse battery"}).raise_for_status()
    user = env.api("GET", "/v1/users").json()["data"][0]["iam_id"]
    group = env.api("POST", "/v1/groups", json={"name": "a11y-group"}).json()["id"]
    image = f"{team_r.host}/team-r/app:1.0"
    source = axe_source()
    page = team_r.page(bypass_csp=True)
    pages = ["/console/signin"]
    report: dict[str, list[dict[str, Any]]] = {}
    page.goto(pages[0])
    report[pages[0]] = axe_violations(page, source)
    sign_in(page, env.owner_key)
    for path in ["/console", "/console/namespaces",
                 "/console/namespaces/team-r/remove?region=us-south",
                 "/console/images?namespace=team-r&region=us-south",
                 f"/console/images/inspect?image={image}",
                 f"/console/images/remove?image={image}&namespace=team-r&region=us-south",
                 "/console/repositories/remove?repository=team-r/app&namespace=team-r",
                 "/console/serviceids", f"/console/serviceids/{robot.iam_id}",
                 "/console/users", f"/console/users/{user}", "/console/groups",
                 f"/console/groups/{group}", "/console/explain", "/console/audit",
                 "/console/operator/keys", "/console/operator/accounts",
                 "/console/operator/registries"]:
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        report[path] = axe_violations(page, source)
    page.goto(f"/console/serviceids/{robot.iam_id}")
    page.get_by_label("Key name", exact=True).fill("a11y-key")
    page.get_by_role("button", name="Create key").click()
    report["key created"] = axe_violations(page, source)
    page.goto("/console/explain")
    page.get_by_role("button", name="Explain").click()
    report["explain answer"] = axe_violations(page, source)
    critical = {where: [v for v in found if v["impact"] == "critical"]
                for where, found in report.items()}
    assert not {k: v for k, v in critical.items() if v}, critical
    serious = {where: [v["id"] for v in found if v["impact"] == "serious"]
               for where, found in report.items()}
    assert not {k: v for k, v in serious.items() if v}, serious
    page.context.close()


def test_docs_and_redoc_render_with_the_network_cut_off(stage: Stage) -> None:
    page = stage.page()
    elsewhere: list[str] = []

    def cut_off(route: Any) -> None:
        elsewhere.append(route.request.url)
        route.abort()

    page.context.route(lambda url: not url.startswith(stage.url), cut_off)
    refused = csp_errors(page)
    page.goto("/docs")
    page.locator(".opblock-summary-path", has_text="/v1/serviceids").first.wait_for()
    screenshot(page, "docs")
    page.goto("/redoc")
    page.get_by_role("heading", name=re.compile("registry-iam")).first.wait_for()
    assert elsewhere == [] and [e for e in refused if "script" in e] == []
    page.context.close()


def test_removing_a_namespace_shows_what_goes_and_needs_its_name(stage: Stage) -> None:
    create_namespace(stage.env, "team-x", "us-south")
    pusher = create_robot(stage.env, "x-writer", [("Writer", "team-x", "us-south")])
    layout = stage.root / "x-image"
    build_image(layout)
    stage.push(layout, "team-x/tool:1.0", pusher.apikey)
    page = stage.page()
    sign_in(page, stage.env.owner_key)
    nav(page, "Namespaces").click()
    page.get_by_role("link", name=re.compile("^Count the repositories")).click()
    row = page.get_by_role("row", name=re.compile("^team-x"))
    assert re.search(r"us-south\s+active\s+1\s+1\s+\d", row.inner_text()), row.inner_text()
    row.get_by_role("link", name="Remove team-x…").click()
    assert "1 repositories, 1 images" in page.locator(".secret").inner_text()
    page.get_by_label("Type the namespace's name to confirm", exact=True).fill("team-y")
    page.get_by_role("button", name="Remove team-x and its images").click()
    assert page.locator(".field-error").inner_text() == "type team-x to confirm"
    page.get_by_label("Type the namespace's name to confirm", exact=True).fill("team-x")
    page.get_by_role("button", name="Remove team-x and its images").click()
    status = page.get_by_role("status").inner_text()
    assert "being deleted" in status or "are gone" in status, status
    assert "Images deleted 1" in page.locator("dl.facts").inner_text().replace("\n", " ")
    screenshot(page, "namespace-removed")
    page.context.close()


def test_a_policys_roles_change_in_place_and_a_user_is_locked_by_clicking(
        team_r: Stage) -> None:
    """Without any script: the policy's "Change roles" (a details element) opens on a
    click, its boxes pre-checked; the user's Lock hides its Delete until Unlock."""
    env = team_r.env
    robot = create_robot(env, "edit-me", [("Reader", "team-r", "us-south")])
    user = env.api("POST", "/v1/users", json={"name": "lock-me", "password":
                                              "correct horse battery"}).json()["iam_id"]
    page = team_r.page()
    sign_in(page, env.owner_key)
    page.goto(f"/console/serviceids/{robot.iam_id}")
    row = page.get_by_role("row", name=re.compile("namespace team-r in us-south"))
    row.get_by_text("Change roles").click()
    form = row.get_by_role("form", name=re.compile("^Change the roles"))
    assert form.get_by_label(re.compile("^Reader")).is_checked()
    assert not form.get_by_label(re.compile("^Writer")).is_checked()
    form.get_by_label(re.compile("^Writer")).check()
    form.get_by_role("button", name="Save roles").click()
    row = page.get_by_role("row", name=re.compile("namespace team-r in us-south"))
    assert "Reader, Writer" in row.inner_text() and "docker push" in row.inner_text()

    page.goto(f"/console/users/{user}")
    page.get_by_role("button", name="Lock", exact=True).click()
    assert "locked (protected from change and deletion)" in page.content()
    assert page.get_by_role("button", name="Delete user").count() == 0
    page.get_by_role("button", name="Unlock", exact=True).click()
    assert page.get_by_role("button", name="Delete user").count() == 1
    page.context.close()
