"""Two rounds of fieldwork in two clusters, sent over OpenRosa by two enumerators' phones: the data the chart and
map tests read. Everything goes through POST /submission of a live server, as Collect sends it.

Round 1 and round 2 each have three informant groups per hamlet. Between the rounds, Chanderi ward 07 moves
towards sad (two households from happy or average to sad), Chanderi ward 03 moves towards happy (one household up)
and Parule village stays as it was. Every household also has an income interview in round 2 with a GPS point near
its hamlet, and Chanderi has a poverty-node record in round 1 only.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from bench import samples
from server.auth import new_token

from .collect import Collect

# hamlet -> cluster, centre of its GPS points
HAMLETS = {"chanderi-w03": ("chanderi", 24.7180, 78.1390), "chanderi-w07": ("chanderi", 24.7230, 78.1450),
           "sindhudurg-parule": ("sindhudurg", 16.0150, 73.6000)}
# household -> (level in round 1, level in round 2) given by all three groups (1 happy, 2 average, 3 sad)
LEVELS = {
    "chanderi-w03-c1": (1, 1), "chanderi-w03-c2": (2, 1), "chanderi-w03-c3": (3, 3), "chanderi-w03-c4": (2, 2),
    "chanderi-w07-c1": (1, 3), "chanderi-w07-c2": (2, 3), "chanderi-w07-c3": (2, 2), "chanderi-w07-c4": (3, 3),
    "sindhudurg-parule-c1": (1, 1), "sindhudurg-parule-c2": (2, 2), "sindhudurg-parule-c3": (3, 3),
}
# household -> (monthly income, members, social group code 1 ST / 2 SC / 3 OBC / 9 other), round 2
INCOMES = {
    "chanderi-w03-c1": (30000, 4, "9"), "chanderi-w03-c2": (16000, 5, "3"), "chanderi-w03-c3": (3000, 5, "2"),
    "chanderi-w03-c4": (9000, 4, "3"), "chanderi-w07-c1": (2500, 6, "2"), "chanderi-w07-c2": (3500, 5, "2"),
    "chanderi-w07-c3": (12000, 4, "3"), "chanderi-w07-c4": (2000, 6, "1"),
    "sindhudurg-parule-c1": (40000, 4, "9"), "sindhudurg-parule-c2": (8000, 4, "3"),
    "sindhudurg-parule-c3": (2500, 5, "2"),
}
NODE = "chanderi-contract_weavers"
NODES = {hh: NODE for hh in LEVELS if hh.startswith("chanderi-w07")}   # ward 07's households are in the node
HEADS = {hh: f"Head {hh.rsplit('-', 1)[1].upper()} of {hh.rsplit('-', 1)[0]}" for hh in LEVELS}
# a device's name is chosen by a manager and shown in a chart: the second is markup that must stay text
ENUMERATORS = ("Rekha's phone", "Sunil's phone <b id=\"injected\">")


def hamlet_of(hh_id: str) -> str:
    return hh_id.rsplit("-", 1)[0]


@dataclass
class Fieldwork:
    project_id: int
    phones: dict[str, Collect] = field(default_factory=dict)   # device name -> its Collect
    sent: dict[str, list[int]] = field(default_factory=dict)   # device name -> submission ids it sent


def _form(app, store, project_id: int, form_id: str):
    return app.extensions["ppa"].forms.get(store, store.get_form(project_id, form_id)["current_def_id"])


def send_fieldwork(app, store, project_id: int, base_url: str) -> Fieldwork:
    """Every submission of the two rounds, over real HTTP to the live server at base_url."""
    work = Fieldwork(project_id)
    for name in ENUMERATORS:
        token = new_token()
        store.create_device(project_id, name, token, actor="test")
        work.phones[name] = Collect(base_url, f"{base_url}/v1/key/{token}/projects/{project_id}",
                                    device_id=f"collect:{len(work.phones)}")
        work.sent[name] = []
    store.upsert_list_items(project_id, "households.csv",
                            [(hh, {"label": f"{HEADS[hh]} ({hh})", "hamlet": hamlet_of(hh),
                                   "cluster": HAMLETS[hamlet_of(hh)][0], "node": NODES.get(hh, "")})
                             for hh in LEVELS], "test")
    ranking = _form(app, store, project_id, "well_being_ranking")
    rng = random.Random(14)
    for round_no in (1, 2):
        for hamlet, (cluster, _lat, _lon) in HAMLETS.items():
            households = [hh for hh in LEVELS if hamlet_of(hh) == hamlet]
            for group in "ABC":
                answers = samples.well_being_ranking(rng, households, group=group, cluster=cluster, hamlet=hamlet,
                                                     round_no=round_no,
                                                     levels={hh: LEVELS[hh][round_no - 1] for hh in households})
                _send(work, ENUMERATORS[0], samples.instance_xml(ranking, answers), store, ranking)
    income = _form(app, store, project_id, "household_income")
    for i, (hh, (amount, members, social)) in enumerate(INCOMES.items()):
        cluster, lat, lon = HAMLETS[hamlet_of(hh)]
        answers = samples.household_income(rng, hh, cluster=cluster, hamlet=hamlet_of(hh), members=members,
                                           round_no=2, head=HEADS[hh])
        answers.update(income_monthly=amount, social_group=social, node=NODES.get(hh, ""),
                       state={"chanderi": "Madhya Pradesh", "sindhudurg": "Maharashtra"}[cluster],
                       sector="urban" if cluster == "chanderi" else "rural",
                       gps=f"{lat + 0.001 * (i % 3):.6f} {lon + 0.001 * (i % 4):.6f} 410.0 5.0")
        _send(work, ENUMERATORS[1], samples.instance_xml(income, samples.fill(income, answers, rng)), store, income)
    nodes = _form(app, store, project_id, "poverty_nodes")
    node = samples.poverty_node(rng, cluster="chanderi", existing=NODE, round_no=1)
    _send(work, ENUMERATORS[1], samples.instance_xml(nodes, samples.fill(nodes, node, rng)), store, nodes)
    return work


def _send(work: Fieldwork, enumerator: str, xml: bytes, store, form) -> None:
    reply = work.phones[enumerator].submit(xml)
    assert reply.status == 201, reply.text
    instance_id = xml.split(b"<instanceID>", 1)[1].split(b"</instanceID>", 1)[0].decode()
    sub = store.get_submission(store.get_form(work.project_id, form.form_id)["id"], instance_id)
    work.sent[enumerator].append(sub["id"])
