"""Helpers for page tests: sign in through the real form (CSRF included), a project with data in two clusters."""

from __future__ import annotations

import random
import re

from bench import samples
from server.bootstrap import create_user

PASSWORD = "a-long-enough-password"
ROLE_USERS = {"admin": ("admin@example.org", None), "manager": ("manager@example.org", None),
              "nda": ("nda@example.org", ["chanderi"]), "researcher": ("researcher@example.org", None),
              "outsider": ("outsider@example.org", None)}


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_in(client, email: str, password: str = PASSWORD):
    page = client.get("/login").get_data(as_text=True)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": csrf(page)})


def make_users(store, project_id: int, other_project_id: int) -> dict[str, dict]:
    users = {}
    for role, (email, clusters) in ROLE_USERS.items():
        real_role = "manager" if role == "outsider" else role
        user = create_user(store, email, real_role, PASSWORD, "PPA")
        if role == "outsider":
            store.add_membership(user["id"], other_project_id)
        elif role != "admin":
            store.add_membership(user["id"], project_id, clusters or [])
        users[role] = user
    return users


def submit_household(collect, app, store, project_id: int, cluster: str, hamlet: str, hh_id: str,
                     seed: int = 1, members: int = 4, income: float = 6000.0) -> str:
    ppa = app.extensions["ppa"]
    form = ppa.forms.get(store, store.get_form(project_id, "household_income")["current_def_id"])
    rng = random.Random(seed)
    answers = samples.household_income(rng, hh_id, cluster=cluster, hamlet=hamlet, members=members, on_list=False,
                                       head=f"Head of {hh_id}")
    answers.update(income_monthly=income, state={"chanderi": "Madhya Pradesh", "sindhudurg": "Maharashtra"}[cluster],
                   sector="urban" if cluster == "chanderi" else "rural", node="")
    xml = samples.instance_xml(form, samples.fill(form, answers, rng))
    reply = collect.submit(xml)
    assert reply.status == 201, reply.text
    return re.search(rb"<instanceID>([^<]+)</instanceID>", xml).group(1).decode()
