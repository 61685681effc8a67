"""Every operation of the Amigo Classic reference document is served: documented in Compadre's own
`/openapi.json`, and routed.

The operations come from tests/compat/reference_operations.json (116, generated from the reference by
tests/compat/gen_reference_operations.py: the reference itself is not in the repository).

1. `/openapi.json` has each (method, path), paths compared with their `{…}` parameters normalised (a few
   parameter names differ from the reference's).
2. Each is routed: the method sent to the path with made-up ids (24 hex digits for `*_id` parameters, "x"
   for the others, the organization's own id for `{organization}`), `{}` as the body of POST and PUT, with
   an administrator's token. Whatever the status, the answer must not be the router's own: what a path no
   route serves answers (404 with the router's bare detail, probed here on unrouted paths) nor the 405 of a
   method the path does not serve. The probe runs in an organization of its own (delete-organization is
   among the operations, sent last).
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

import httpx

from conftest import Compadre, init_org

OPERATIONS: list[dict[str, str]] = json.loads((Path(__file__).parent / "reference_operations.json").read_text())
PARAMETER = re.compile(r"\{([^}]+)\}")


def shape(path: str) -> str:
    return PARAMETER.sub("{}", path)


def label(op: dict[str, str]) -> str:
    return f"{op['method'].upper()} {op['path']} ({op['operation_id']})"


def test_the_list_is_the_reference_s_116_operations():
    assert len(OPERATIONS) == 116
    assert len({(op["method"], op["path"]) for op in OPERATIONS}) == 116
    assert OPERATIONS == sorted(OPERATIONS, key=lambda op: (op["path"], op["method"]))


def test_openapi_document_has_every_operation(compadre: Compadre):
    document = httpx.get(f"{compadre.server.base_url}/openapi.json", timeout=30)
    assert document.status_code == 200, document.text[:500]
    served = {(method, shape(path)) for path, item in document.json()["paths"].items() for method in item}
    missing = [label(op) for op in OPERATIONS if (op["method"], shape(op["path"])) not in served]
    assert not missing, f"{len(missing)} operation(s) of the reference not in /openapi.json:\n" + "\n".join(missing)


def concrete(path: str, org: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "organization":
            return org
        return secrets.token_hex(12) if name.endswith("_id") else "x"

    return PARAMETER.sub(value, path)


def detail(resp: httpx.Response) -> object:
    try:
        body = resp.json()
    except ValueError:
        return None
    return body.get("detail") if isinstance(body, dict) else None


def test_every_operation_is_routed(compadre: Compadre, compadre_bin: Path):
    creds = init_org(compadre_bin, f"routes{secrets.token_hex(5)}", compadre.server.database_url)
    org = Compadre(server=compadre.server, credentials=creds, org=creds.organization_id)
    with httpx.Client(base_url=compadre.server.base_url, headers={"Authorization": f"Bearer {org.access_token()}"},
                      timeout=60, follow_redirects=False) as http:
        # What the router answers for a path no route serves, with the same token: its signature.
        unrouted = set()
        for method, path in [("GET", f"/v1/{org.org}/no_such_thing/"), ("POST", f"/v1/{org.org}/no_such_thing/x"),
                             ("DELETE", f"/v1/{org.org}/user/{secrets.token_hex(12)}/no_such_thing"),
                             ("PUT", f"/v1/{org.org}/metric/{secrets.token_hex(12)}/x/y")]:
            resp = http.request(method, path, json={} if method in ("POST", "PUT") else None)
            assert resp.status_code == 404, (method, path, resp.status_code, resp.text)
            unrouted.add(json.dumps(detail(resp)))
        assert len(unrouted) == 1, unrouted
        # And for a method a served path does not serve (PATCH is in no operation of the reference).
        not_allowed = http.patch(f"/v1/{org.org}/user/")
        assert not_allowed.status_code == 405 and "allow" in not_allowed.headers, not_allowed.text

        # delete-organization last: the other operations need the organization.
        ordered = sorted(OPERATIONS, key=lambda op: op["operation_id"] == "delete-organization")
        problems = []
        for op in ordered:
            path = concrete(op["path"], org.org)
            method = op["method"].upper()
            resp = http.request(method, path, json={} if method in ("POST", "PUT") else None)
            if resp.status_code == 404 and json.dumps(detail(resp)) in unrouted:
                problems.append(f"{label(op)}: {method} {path} -> the router's 404 {resp.text[:200]}")
            elif resp.status_code == 405:
                problems.append(f"{label(op)}: {method} {path} -> 405 (Allow: {resp.headers.get('allow')}) {resp.text[:200]}")
    assert not problems, f"{len(problems)} of {len(OPERATIONS)} operation(s) not routed:\n" + "\n".join(problems)
