"""Sessions, CSRF, login rate limiting and headers, through the real app."""
from agents.web.dashboard.security import CONTENT_SECURITY_POLICY, SESSION_COOKIE, RateLimiter, SessionCodec
from agents.web.dashboard.settings import DashboardSettings
from tests.agents.web.dashboard.conftest import PASSWORD, csrf_token, dash_of, logged_in, login
from tests.agents.web.dashboard.factory import A, event


def _set_cookie(response, name):
    return next(h for h in response.headers.getall("Set-Cookie") if h.startswith(name + "="))


async def test_session_cookie_is_signed_httponly_samesite(client):
    response = await login(client, "qa.a")
    assert response.status == 303
    cookie = _set_cookie(response, SESSION_COOKIE)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP on localhost; see the next test for HTTPS


async def test_session_cookie_is_secure_when_served_over_https(make_client, tmp_path):
    settings = DashboardSettings(state_dir=tmp_path, secret_key="k" * 48, cookie_secure=True, sign_events=False)
    client = await make_client(settings=settings)
    response = await client.get("/login")
    assert "Secure" in _set_cookie(response, SESSION_COOKIE)


async def test_login_issues_a_new_session_id(client):
    await client.get("/login")
    before = client.session.cookie_jar.filter_cookies(client.make_url("/"))[SESSION_COOKIE].value
    await login(client, "qa.a")
    after = client.session.cookie_jar.filter_cookies(client.make_url("/"))[SESSION_COOKIE].value
    codec = SessionCodec("s" * 48, 3600)
    assert codec.loads(before)["sid"] != codec.loads(after)["sid"]
    assert codec.loads(before)["csrf"] != codec.loads(after)["csrf"]


async def test_a_forged_cookie_is_ignored(client):
    forged = SessionCodec("another secret that is long enough!!", 3600).dumps({"sid": "x", "csrf": "y", "u": "qa.a"})
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: forged}, client.make_url("/"))
    response = await client.get("/", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/login")


async def test_login_without_csrf_token_is_refused(client):
    await client.get("/login")
    response = await client.post("/login", data={"username": "qa.a", "password": PASSWORD}, allow_redirects=False)
    assert response.status == 403
    assert (await client.get("/", allow_redirects=False)).status == 303  # not logged in


async def test_action_without_csrf_token_is_refused_and_nothing_is_published(make_client, ledger, bus):
    change = event("change", "proposed")
    ledger.append([change])
    client = await logged_in(make_client, "qa.a")
    url = f"/agreements/{A}/items/{change['item_ref']}/approve"
    response = await client.post(url, data={"conditions": ""}, allow_redirects=False)
    assert response.status == 403 and bus.sent == []
    # A token from another session does not do either.
    other = await make_client()
    stolen = await csrf_token(other)
    response = await client.post(url, data={"csrf_token": stolen}, allow_redirects=False)
    assert response.status == 403 and bus.sent == []


async def test_cross_site_origin_is_refused_even_with_the_token(make_client, ledger, bus):
    change = event("change", "proposed")
    ledger.append([change])
    client = await logged_in(make_client, "qa.a")
    token = await csrf_token(client, f"/agreements/{A}/items/{change['item_ref']}")
    response = await client.post(f"/agreements/{A}/items/{change['item_ref']}/approve",
                                 data={"csrf_token": token}, headers={"Origin": "https://evil.example"},
                                 allow_redirects=False)
    assert response.status == 403 and bus.sent == []


async def test_logins_are_rate_limited_per_user_name(client):
    clock = [1000.0]
    dash_of(client).limiter = RateLimiter(max_failures=5, window_s=300, clock=lambda: clock[0])
    for _ in range(5):
        assert (await login(client, "qa.a", "wrong password!")).status == 401
    # The sixth attempt is refused before the password is even checked, right or wrong.
    response = await login(client, "qa.a", PASSWORD)
    assert response.status == 429 and int(response.headers["Retry-After"]) > 0
    assert "Too many failed attempts" in await response.text()
    # Another user from the same address is throttled too (per address).
    assert (await login(client, "qa.b", PASSWORD)).status == 429
    clock[0] += 301
    assert (await login(client, "qa.a", PASSWORD)).status == 303


def test_rate_limiter_counts_within_the_window_only():
    clock = [0.0]
    limiter = RateLimiter(max_failures=2, window_s=10, clock=lambda: clock[0])
    limiter.failure("k")
    clock[0] = 6
    limiter.failure("k")
    assert limiter.retry_after("k") == 5
    clock[0] = 10.5
    assert limiter.retry_after("k") == 0


async def test_pages_carry_security_headers(client):
    response = await client.get("/login")
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


async def test_login_never_redirects_to_another_site(client):
    token = await csrf_token(client)
    response = await client.post("/login", data={"username": "qa.a", "password": PASSWORD, "csrf_token": token,
                                                  "next": "//evil.example/phish"}, allow_redirects=False)
    assert response.headers["Location"] == "/"


async def test_disabling_a_user_ends_their_session(make_client, users):
    client = await logged_in(make_client, "qa.a")
    assert (await client.get("/", allow_redirects=False)).status == 200
    users.disable("qa.a")
    response = await client.get("/", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/login")


async def test_pages_need_a_login(client):
    for path in ("/", "/queue", "/batches", f"/agreements/{A}"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 303 and response.headers["Location"].startswith("/login?next=")
    assert (await client.get("/events")).status == 401
