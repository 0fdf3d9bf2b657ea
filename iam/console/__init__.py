"""The web console at `/console`: server-rendered pages (Jinja2 templates, plain HTML forms,
one small script of our own for the copy button, no build step, nothing from another
origin) for everything a team lead does with the API.

It owns the browser side only: the session cookie and the anti-forgery check
(`session`), rendering and showing errors beside their field (`pages`), and one routes module
per subject (`routes/`). Every page acts as the signed-in identity by calling the admin API's
own route functions (`iam.api.routes`), so the console has no authorization path of its
own: the same guards, non-escalation rule, domain functions and change journal decide and
record; the console only asks the policy engine (`access.guard.allowed`) which buttons to
show. Sessions themselves are domain state (`identity.console_sessions`).

May import everything, the API included; nothing imports it but the served app's factory
(`console.app`), which `iam serve` runs.
"""
