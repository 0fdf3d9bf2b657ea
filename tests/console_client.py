"""A console visitor without a browser: a TestClient (or httpx client) that signs in through
the sign-in form and posts forms with the page's anti-forgery token, as a browser would."""

from __future__ import annotations

import re
from typing import Any

import httpx

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SIGNIN_TOKEN = re.compile(r'name="signin_token" value="([^"]+)"')
FIELD_ERROR = re.compile(r'class="field-error"[^>]*>([^<]+)<')
ALERT = re.compile(r'<div class="alert" role="alert">\s*<ul>(.*?)</ul>', re.S)


def signin_form(client: httpx.Client | Any) -> str:
    page = client.get("/console/signin")
    assert page.status_code == 200, page.text
    found = SIGNIN_TOKEN.search(page.text)
    assert found is not None
    return found.group(1)


def sign_in(client: httpx.Client | Any, **credentials: str) -> str:
    """Sign in with `apikey=` or `username=`/`password=`; the session's anti-forgery token."""
    r = client.post("/console/signin", data={"signin_token": signin_form(client), **credentials},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/console"
    home = client.get("/console")
    assert home.status_code == 200
    return csrf_of(home.text)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "no anti-forgery token on the page"
    return found.group(1)


def field_errors(html: str) -> list[str]:
    return [e.strip() for e in FIELD_ERROR.findall(html)]


def alerts(html: str) -> str:
    found = ALERT.search(html)
    return re.sub(r"<[^>]+>", " ", found.group(1)).strip() if found else ""
