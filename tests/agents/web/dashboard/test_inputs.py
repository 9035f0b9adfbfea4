"""Bad input is a 400 with a plain reason, never a 500: garbage thrown at every route."""
import pytest
from yarl import URL

from tests.agents.web.dashboard.conftest import csrf_token, dash_of, logged_in
from tests.agents.web.dashboard.factory import A, B, event, later, obligation

# Query values and header values a careless or hostile client might send.
QUERY_GARBAGE = ["", "\x00", "%ff%fe", "A" * 5000, "B" * 7000, "../../etc/passwd", "<script>alert(1)</script>", "9" * 400, "-1",
                 "1e999", "\r\nSet-Cookie: x=1", "☃", "' OR 1=1 --", "0001-01-01", "99999-12-31", "2026-02-30",
                 "//evil.example/", "javascript:alert(1)"]
QUERY_NAMES = ("since", "next", "from", "to", "agreement", "category", "limit", "types", "lang", "sent")
HEADER_GARBAGE = ["", "9" * 400, "x" * 5000, "☃", "not-an-ip, 999.1.1.1", "eyJ4IjpbXX0", "%00"]
FORM = "application/x-www-form-urlencoded"
BODY_GARBAGE = [
    (b"\xff\xfe\xfa=\xff", FORM),                                   # not UTF-8
    (b"note=%ff%fe&reason=%c3%28", FORM),                            # percent-encoded invalid UTF-8
    (b"a=1", FORM + "; charset=klingon"),                            # an unknown charset
    (b'{"meaning": "APPROVED"}', "application/json"),                # the wrong content type
    (b"--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb", "multipart/form-data; boundary=x"),  # cut short
    (b"", "text/plain"),
    (b"reason=" + b"x" * 9000, FORM),                                # a field too long
    (b"reason=" + b"x" * 70000, FORM),                               # a body too large (413 is fine, 500 is not)
]


@pytest.fixture
def seeded(ledger):
    change = event("change", "proposed", A, "CHG-A-1")
    release = event("batch_release", "factory_released", A, "REL-A-1", batch_no="2611-01", classification=None)
    ledger.append([change, obligation("opened", change, kind="APPROVE", due_at=later(20)), release,
                   event("deviation", "reported", B, "DEV-B-1")])


def concrete_paths(app) -> list[tuple[str, str]]:
    """(method, path) of every route, with its placeholders filled in with real and unreal values."""
    fill = {"agreement_id": [A, B, "NOPE"], "item_ref": ["CHG-A-1", "REL-A-1", "..%2F"],
            "action": ["decide", "sign", "acknowledge", "feedback", "approve", "nonsense"]}
    out = set()
    for route in app.router.routes():
        if route.method not in ("GET", "POST"):
            continue
        info = route.resource.get_info()
        template = info.get("formatter") or info.get("path")
        if template is None or template.startswith("/static"):
            continue
        paths = [template]
        for name, values in fill.items():
            if "{" + name + "}" in template:
                paths = [p.replace("{" + name + "}", v) for p in paths for v in values]
        out.update((route.method, p) for p in paths)
    return sorted(out)


async def throw_garbage(client, token: str | None, api_token: str | None) -> list[str]:
    failures = []
    headers_base = {"X-CSRF-Token": token} if token else {}
    if api_token:
        headers_base["Authorization"] = f"Bearer {api_token}"
    for r, (method, path) in enumerate(concrete_paths(client.server.app)):
        for n, value in enumerate(QUERY_GARBAGE):
            params = {name: value for name in QUERY_NAMES}
            if not value.lstrip("-").isdigit():
                params["wait"] = value  # a numeric wait would really wait
            if len(value) > 500:  # one long value at a time, or the server refuses the whole line before the app sees it
                params = {QUERY_NAMES[(n + r) % len(QUERY_NAMES)]: value}
            url = URL(path, encoded="%" in path).with_query(params)
            header = HEADER_GARBAGE[(n + r) % len(HEADER_GARBAGE)]
            headers = {**headers_base, "Last-Event-ID": header, "Accept-Language": header, "X-Forwarded-For": header}
            if method == "POST":
                response = await client.post(url, data={"csrf_token": token or "", "next": value, "meaning": value,
                                                        "reason": value, "draft": value, "password": value,
                                                        "lang": value, "note": value},
                                             headers=headers_base, allow_redirects=False)
            else:
                response = await client.get(url, headers=headers, allow_redirects=False)
            if response.status >= 500:
                failures.append(f"{method} {url} -> {response.status}")
            response.close()
        if method == "POST":
            for body, content_type in BODY_GARBAGE:
                response = await client.post(path, data=body, headers={**headers_base, "Content-Type": content_type},
                                             allow_redirects=False)
                if response.status >= 500:
                    failures.append(f"POST {path} {content_type} {body[:20]!r} -> {response.status}")
                response.close()
    return failures


async def test_no_route_answers_garbage_with_a_5xx(make_client, seeded, users):
    api_token = users.add_token("HOLDER-A", "holder-a-qms")[1]
    anonymous = await make_client()
    holder = await logged_in(make_client, "head.a")
    dash_of(holder).throttle.pairs.max_failures = 10**6  # the garbage passwords must not end the run early
    failures = await throw_garbage(anonymous, await csrf_token(anonymous), api_token)
    failures += await throw_garbage(holder, await csrf_token(holder, "/"), None)
    # This app has no connection to the bus, so the ingest gateway rightly answers 503 ("post again").
    assert [f for f in failures if not (f.startswith("POST /api/v1/events") and f.endswith("-> 503"))] == []


@pytest.mark.parametrize("query, reason", [("from=2026-13-01", "YYYY-MM-DD"), ("to=0001-01-01", "between 2000"),
                                           ("from=2026-01-01&to=99999-01-01", "YYYY-MM-DD")])
async def test_export_dates_out_of_range_or_malformed_are_a_plain_400(make_client, seeded, query, reason):
    client = await logged_in(make_client, "qa.a")
    response = await client.get(f"/agreements/{A}/export?{query}")
    assert response.status == 400 and reason in await response.text()


async def test_an_undecodable_form_is_a_plain_400(make_client, seeded):
    client = await logged_in(make_client, "qa.a")
    token = await csrf_token(client, "/")
    response = await client.post("/language", data=b"lang=%ff%fe", headers={"X-CSRF-Token": token,
                                                                           "Content-Type": FORM})
    assert response.status == 400 and "UTF-8" in await response.text()
    response = await client.post("/language", data=b'{"lang": "zh"}', headers={"X-CSRF-Token": token,
                                                                              "Content-Type": "application/json"})
    assert response.status == 400 and "web form" in await response.text()


async def test_an_oversized_query_value_is_a_plain_400(make_client, seeded):
    client = await logged_in(make_client, "qa.a")
    response = await client.get(f"/agreements/{A}", params={"category": "x" * 7000})
    assert response.status == 400 and "too long" in await response.text()


async def test_a_next_with_control_characters_is_a_plain_400(client):
    response = await client.get("/login", params={"next": "/queue\r\nLocation: https://evil.example"})
    assert response.status == 400 and "not a page of this site" in await response.text()
