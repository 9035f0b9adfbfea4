"""Sessions, CSRF, login rate limiting and headers, through the real app."""
import pytest

from agents.web.dashboard.security import CONTENT_SECURITY_POLICY, SESSION_COOKIE, SessionCodec
from agents.web.dashboard.settings import DashboardSettings
from agents.web.dashboard.throttle import LoginThrottle, RateLimiter
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


async def login_from(client, username, password=PASSWORD, forwarded_for=None):
    """Log in (logging out first if need be), as if from the address a proxy names in X-Forwarded-For."""
    if (await client.get("/login", allow_redirects=False)).status == 303:
        await client.post("/logout", data={"csrf_token": await csrf_token(client, "/")})
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return await client.post("/login", data={"username": username, "password": password, "next": "/",
                                             "csrf_token": await csrf_token(client)},
                             headers=headers, allow_redirects=False)


def frozen_throttle(client, clock):
    dash_of(client).throttle = LoginThrottle(5, 50, 300, clock=lambda: clock[0])


async def test_logins_are_rate_limited_per_user_and_address(client):
    clock = [1000.0]
    frozen_throttle(client, clock)
    for _ in range(5):
        assert (await login_from(client, "qa.a", "wrong password!")).status == 401
    # The sixth attempt is refused before the password is even checked, right or wrong.
    response = await login_from(client, "qa.a")
    assert response.status == 429 and int(response.headers["Retry-After"]) > 0
    assert "Too many failed attempts" in await response.text()
    # Five wrong passwords for one user do not lock every other user at the same address out.
    assert (await login_from(client, "qa.b")).status == 303
    clock[0] += 301
    assert (await login_from(client, "qa.a")).status == 303


async def test_behind_a_trusted_proxy_each_client_address_counts_on_its_own(make_client, tmp_path):
    settings = DashboardSettings(state_dir=tmp_path, secret_key="p" * 48, sign_events=False,
                                 trusted_proxies=["127.0.0.1"])
    client = await make_client(settings=settings)
    frozen_throttle(client, [0.0])
    for _ in range(5):
        assert (await login_from(client, "qa.a", "wrong password!", "203.0.113.5")).status == 401
    assert (await login_from(client, "qa.a", PASSWORD, "203.0.113.5")).status == 429
    # The same user at another desk, behind the same proxy, is not locked out; the proxy's own
    # hop (right-most, trusted) is skipped to find the client.
    assert (await login_from(client, "qa.a", PASSWORD, "198.51.100.7, 127.0.0.1")).status == 303


async def test_without_a_trusted_proxy_x_forwarded_for_is_ignored(client):
    frozen_throttle(client, [0.0])
    for n in range(5):
        assert (await login_from(client, "qa.a", "wrong password!", f"203.0.113.{n}")).status == 401
    # Every guess came from 127.0.0.1 whatever the header claimed: still throttled.
    assert (await login_from(client, "qa.a", PASSWORD, "198.51.100.7")).status == 429


@pytest.mark.parametrize("chain, expected", [
    ("203.0.113.5", "203.0.113.5"),
    ("10.9.9.9, 203.0.113.5, 10.0.0.2", "203.0.113.5"),   # left of the first untrusted hop is the client's claim
    ("not-an-address", "10.0.0.1"),
    ("", "10.0.0.1"),
])
def test_the_client_address_behind_trusted_proxies(chain, expected):
    from types import SimpleNamespace

    from multidict import CIMultiDict

    from agents.web.dashboard.throttle import ClientAddress

    resolve = ClientAddress(["10.0.0.0/8"])
    transport = SimpleNamespace(get_extra_info=lambda name: ("10.0.0.1", 5555))
    request = SimpleNamespace(transport=transport, headers=CIMultiDict({"X-Forwarded-For": chain} if chain else {}))
    assert resolve(request) == expected


# --- server-side sessions ---------------------------------------------------------------------------
def cookie_of(client) -> str:
    return client.session.cookie_jar.filter_cookies(client.make_url("/"))[SESSION_COOKIE].value


def use_cookie(client, value: str) -> None:
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: value}, client.make_url("/"))


async def test_a_copied_cookie_stops_working_after_logout(make_client):
    client = await logged_in(make_client, "qa.a")
    copied = cookie_of(client)
    await client.post("/logout", data={"csrf_token": await csrf_token(client, "/")})
    use_cookie(client, copied)
    response = await client.get("/", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/login")
    assert (await client.get("/", headers={"X-Qbus-Partial": "1"}, allow_redirects=False)).status == 401
    assert (await client.get("/events")).status == 401


async def test_a_password_change_ends_every_other_session(make_client, users):
    client = await logged_in(make_client, "qa.a")
    copied = cookie_of(client)
    token = await csrf_token(client, "/account/password")
    response = await client.post("/account/password", data={"csrf_token": token, "current": PASSWORD,
                                                             "new": "a brand new password", "again": "a brand new password"},
                                 allow_redirects=False)
    assert response.status == 303
    fresh = cookie_of(client)
    assert (await client.get("/", allow_redirects=False)).status == 200        # this browser goes on
    use_cookie(client, copied)
    assert (await client.get("/", allow_redirects=False)).status == 303         # the copy does not
    use_cookie(client, fresh)
    assert (await client.get("/", allow_redirects=False)).status == 200
    assert users.authenticate("qa.a", "a brand new password") is not None


async def test_a_wrong_current_password_changes_nothing(make_client, users):
    client = await logged_in(make_client, "qa.a")
    token = await csrf_token(client, "/account/password")
    response = await client.post("/account/password", data={"csrf_token": token, "current": "not it at all",
                                                             "new": "a brand new password", "again": "a brand new password"})
    assert response.status == 401 and users.authenticate("qa.a", PASSWORD) is not None
    short = await client.post("/account/password", data={"csrf_token": token, "current": PASSWORD, "new": "short",
                                                          "again": "short"})
    assert short.status == 400 and "at least 10 characters" in await short.text()


async def test_an_operators_password_reset_ends_the_users_sessions(make_client):
    client = await logged_in(make_client, "qa.a")
    dash_of(client).credentials.reset_password("qa.a", "set by the operator")
    response = await client.get("/", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/login")


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


@pytest.mark.parametrize("target", ["//evil.example/phish", "https://evil.example/", "/ok\r\nSet-Cookie: x=1",
                                    "/\\evil.example", "javascript:alert(1)"])
async def test_login_never_redirects_to_another_site(client, target):
    token = await csrf_token(client)
    response = await client.post("/login", data={"username": "qa.a", "password": PASSWORD, "csrf_token": token,
                                                  "next": target}, allow_redirects=False)
    assert response.status == 400 and "not a page of this site" in await response.text()
    assert (await client.get("/", allow_redirects=False)).status == 303  # and nobody was logged in


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


async def test_an_open_live_stream_ends_when_its_session_is_logged_out(make_client):
    client = await logged_in(make_client, "qa.a")
    stream = await client.get("/events")
    assert (await stream.content.readline()).startswith(b"retry:")
    dash_of(client).sessions.end_all("qa.a")
    # The stream ends at its next heartbeat (0.5 s in these settings): reading runs to the end.
    rest = await stream.content.read()
    assert b"event: change" not in rest and stream.content.at_eof()
