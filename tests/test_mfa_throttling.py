"""The MFA throttles through the hosted pages of a real server: attempts per challenge, the
per-user failure bucket (charged before each check, never refilled by a new challenge, emptied
by a right answer), races between parallel answers, spent transactions and tampered forms."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.mfa_flow import SECRET, Started, current_totp, start_login, submit
from tests.oidc import BrowserClient, hidden_fields
from tests.servers import ProviderServer, dispose, new_server, public_client

REDIRECT = "https://rp.example/cb"
PASSWORD = "password-123"
INVALID = "The code you entered is invalid."
BURNED = "Too many wrong answers to this challenge."
THROTTLED = "Too many failed codes. Wait for some minutes before retrying."
EXPIRED = "This sign-in has expired"
WRONG = "000000"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderServer]:
    instance = new_server(tmp_path_factory.mktemp("mfa-throttling"))
    instance.start()
    instance.cli("mfa", "policy", "always")
    yield instance
    dispose(instance)


@pytest.fixture(scope="module")
def client_id(server: ProviderServer) -> str:
    return public_client(server, REDIRECT, name="rp")


def _enrolled_user(server: ProviderServer, client_id: str, email: str) -> str:
    """Create a user and enroll TOTP through the hosted pages; returns the TOTP secret."""
    server.cli_json("users", "create", "--email", email, "--password", PASSWORD, "--email-verified")
    started = start_login(server.base_url, client_id, REDIRECT, email, PASSWORD)
    assert "Secure your account" in started.response.text
    page = submit(started.browser, started.response, "/mfa/enroll", factor="otp")
    secret = SECRET.search(page.text).group(1)
    page = submit(started.browser, page, "/mfa/enroll/confirm", code=current_totp(secret))
    assert "Save your recovery code" in page.text
    final = submit(started.browser, page, "/mfa/continue")
    assert final.status_code == 302 and final.headers["location"].startswith(REDIRECT)
    started.browser.close()
    return secret


def _challenged(server: ProviderServer, client_id: str, email: str) -> Started:
    """A new sign-in, password given, standing on the TOTP challenge page."""
    started = start_login(server.base_url, client_id, REDIRECT, email, PASSWORD)
    assert started.response.status_code == 200, started.response.text[:300]
    assert 'action="/mfa/verify"' in started.response.text
    assert "authenticator app" in started.response.text
    return started


def _right(secret: str) -> str:
    """A valid TOTP code of a step later than the one used at enrollment."""
    return current_totp(secret, time.time() + 30)


def _answer(browser: BrowserClient, page: httpx.Response, code: str) -> httpx.Response:
    return submit(browser, page, "/mfa/verify", code=code)


def _fail(browser: BrowserClient, page: httpx.Response, times: int) -> httpx.Response:
    """Answer the current challenge wrongly `times` times, each refused as invalid (401)."""
    for _ in range(times):
        page = _answer(browser, page, WRONG)
        assert page.status_code == 401 and INVALID in page.text, (page.status_code, page.text[:400])
    return page


def _new_challenge(browser: BrowserClient, page: httpx.Response) -> httpx.Response:
    """Try another method → the authenticator app again: a new challenge."""
    tx = hidden_fields(page.text)["t"]
    methods = browser.get(f"/mfa/methods?t={tx}")
    assert methods.status_code == 200
    otp_id = next(value for value in _authenticator_ids(methods.text) if value.startswith("totp|"))
    fresh = submit(browser, methods, "/mfa/select", authenticator_id=otp_id)
    assert fresh.status_code == 200 and 'action="/mfa/verify"' in fresh.text
    return fresh


def _authenticator_ids(html: str) -> list[str]:
    return re.findall(r'name="authenticator_id" value="([^"]*)"', html)


def _error_of(response: httpx.Response) -> str:
    found = re.search(r'role="alert">([^<]*)<', response.text)
    return found.group(1) if found else ""


def _succeeded(response: httpx.Response) -> bool:
    return response.status_code == 302 and response.headers["location"].startswith(REDIRECT)


def test_five_wrong_answers_burn_the_challenge_until_a_new_one(
    server: ProviderServer, client_id: str
) -> None:
    """After 5 wrong answers to one challenge even the right code is refused as burned (400);
    choosing the method again issues a new challenge that accepts answers."""
    secret = _enrolled_user(server, client_id, "burn@example.com")
    started = _challenged(server, client_id, "burn@example.com")
    page = _fail(started.browser, started.response, 5)
    burned = _answer(started.browser, page, _right(secret))
    assert burned.status_code == 400 and BURNED in burned.text
    again = _answer(started.browser, burned, _right(secret))
    assert again.status_code == 400 and BURNED in again.text

    # Reloading the page re-shows the same (burned) challenge rather than issuing a new one.
    tx = hidden_fields(page.text)["t"]
    reloaded = started.browser.get(f"/mfa?t={tx}")
    assert _answer(started.browser, reloaded, _right(secret)).status_code == 400

    fresh = _new_challenge(started.browser, burned)
    assert _succeeded(_answer(started.browser, fresh, _right(secret)))


def test_failure_bucket_survives_new_challenges_and_sign_ins(
    server: ProviderServer, client_id: str
) -> None:
    """10 failures across challenges exhaust the per-user bucket: the next answer, even the
    right code, gets 429, and neither a new challenge nor a new sign-in refills it."""
    secret = _enrolled_user(server, client_id, "bucket@example.com")
    first = _challenged(server, client_id, "bucket@example.com")
    page = _fail(first.browser, first.response, 5)
    page = _new_challenge(first.browser, page)
    page = _fail(first.browser, page, 5)
    page = _new_challenge(first.browser, page)
    throttled = _answer(first.browser, page, _right(secret))
    assert throttled.status_code == 429 and THROTTLED in throttled.text

    # A new sign-in (a new MFA transaction, a new challenge), from a new browser.
    second = _challenged(server, client_id, "bucket@example.com")
    throttled = _answer(second.browser, second.response, _right(secret))
    assert throttled.status_code == 429 and THROTTLED in throttled.text
    # Throttled answers are not evaluated, so they do not burn the challenge either.
    assert _answer(second.browser, throttled, WRONG).status_code == 429


def test_failure_bucket_is_per_user(server: ProviderServer, client_id: str) -> None:
    """One user's exhausted bucket does not throttle another user."""
    _enrolled_user(server, client_id, "noisy@example.com")
    quiet_secret = _enrolled_user(server, client_id, "quiet@example.com")
    noisy = _challenged(server, client_id, "noisy@example.com")
    page = _fail(noisy.browser, noisy.response, 5)
    page = _fail(noisy.browser, _new_challenge(noisy.browser, page), 5)
    assert _answer(noisy.browser, _new_challenge(noisy.browser, page), WRONG).status_code == 429

    quiet = _challenged(server, client_id, "quiet@example.com")
    assert _succeeded(_answer(quiet.browser, quiet.response, _right(quiet_secret)))


def test_right_code_empties_the_failure_bucket(server: ProviderServer, client_id: str) -> None:
    """8 failures, then the right code succeeds and empties the bucket: 10 more failures are
    answered 401, and only the 11th is throttled."""
    secret = _enrolled_user(server, client_id, "reset@example.com")
    first = _challenged(server, client_id, "reset@example.com")
    page = _fail(first.browser, first.response, 5)
    page = _fail(first.browser, _new_challenge(first.browser, page), 3)
    assert _succeeded(_answer(first.browser, page, _right(secret)))

    second = _challenged(server, client_id, "reset@example.com")
    page = _fail(second.browser, second.response, 5)
    page = _fail(second.browser, _new_challenge(second.browser, page), 5)
    throttled = _answer(second.browser, _new_challenge(second.browser, page), WRONG)
    assert throttled.status_code == 429 and THROTTLED in throttled.text


def _post_in_parallel(
    browser: BrowserClient, page: httpx.Response, codes: list[str]
) -> list[httpx.Response]:
    """POST /mfa/verify once per code, all at the same moment, each from its own connection
    carrying the cookies of the same browser."""
    fields = hidden_fields(page.text)
    barrier = threading.Barrier(len(codes))

    def post(code: str) -> httpx.Response:
        with httpx.Client(
            base_url=browser.base_url,
            cookies=browser.http.cookies,
            follow_redirects=False,
            timeout=60,
        ) as http:
            barrier.wait()
            return http.post("/mfa/verify", data={**fields, "code": code})

    with ThreadPoolExecutor(max_workers=len(codes)) as pool:
        return list(pool.map(post, codes))


def test_parallel_wrong_answers_cannot_exceed_the_attempt_limit(
    server: ProviderServer, client_id: str
) -> None:
    """10 wrong answers posted at once to one challenge: at most 5 are evaluated (401), the
    others are refused as burned or throttled, none fails with a server error, and all 10
    were charged to the user's failure bucket."""
    _enrolled_user(server, client_id, "race-wrong@example.com")
    started = _challenged(server, client_id, "race-wrong@example.com")
    answers = _post_in_parallel(started.browser, started.response, [WRONG] * 10)
    statuses = sorted(answer.status_code for answer in answers)
    evaluated = [a for a in answers if a.status_code == 401]
    refused = [a for a in answers if a.status_code in (400, 429)]
    assert len(evaluated) + len(refused) == 10, statuses
    assert 1 <= len(evaluated) <= 5, statuses
    assert all(INVALID in a.text for a in evaluated)
    assert all(BURNED in a.text or THROTTLED in a.text for a in refused), statuses
    # Every one of the 10 was charged to the user's bucket before being checked: it is empty.
    after = _answer(started.browser, started.response, WRONG)
    assert after.status_code == 429 and THROTTLED in after.text


def test_parallel_right_answers_succeed_once(server: ProviderServer, client_id: str) -> None:
    """The same right TOTP code posted 6 times at once: exactly one answer completes the
    sign-in; the others are refused (replayed code or spent transaction), never a 500."""
    secret = _enrolled_user(server, client_id, "race-right@example.com")
    started = _challenged(server, client_id, "race-right@example.com")
    answers = _post_in_parallel(started.browser, started.response, [_right(secret)] * 6)
    statuses = sorted(answer.status_code for answer in answers)
    winners = [a for a in answers if a.status_code == 303]
    assert len(winners) == 1, statuses
    assert winners[0].headers["location"].startswith("/authorize/resume?")
    losers = [(a.status_code, _error_of(a)) for a in answers if a is not winners[0]]
    assert all(status in (400, 401) for status, _ in losers), losers
    # The winner's sign-in goes on to the application.
    final = started.browser.follow_local(started.browser.get(winners[0].headers["location"]))
    assert _succeeded(final)


def test_completed_transaction_shows_the_expiry_page(
    server: ProviderServer, client_id: str
) -> None:
    """Once an MFA transaction succeeded, its pages and forms show the expiry page (400),
    never a 500, and the old form cannot be answered again."""
    secret = _enrolled_user(server, client_id, "spent@example.com")
    started = _challenged(server, client_id, "spent@example.com")
    challenge = started.response
    tx = hidden_fields(challenge.text)["t"]
    assert _succeeded(_answer(started.browser, challenge, _right(secret)))

    for url in (f"/mfa?t={tx}", f"/mfa/methods?t={tx}", f"/mfa/enroll?t={tx}"):
        answer = started.browser.get(url)
        assert answer.status_code == 400 and EXPIRED in answer.text, url
    for action, extra in (
        ("/mfa/verify", {"code": _right(secret)}),
        ("/mfa/select", {"authenticator_id": "otp|x"}),
        ("/mfa/enroll", {"factor": "otp"}),
        ("/mfa/enroll/confirm", {"code": "123456"}),
    ):
        answer = started.browser.post(action, data={**hidden_fields(challenge.text), **extra})
        assert answer.status_code == 400 and EXPIRED in answer.text, action


def test_tampered_forms_get_a_clear_4xx_page(server: ProviderServer, client_id: str) -> None:
    """A missing or wrong CSRF token, an unknown authenticator, an unknown or non-enrollable
    factor, or a missing transaction id each get a 4xx page saying so."""
    secret = _enrolled_user(server, client_id, "tamper@example.com")
    started = _challenged(server, client_id, "tamper@example.com")
    browser, challenge = started.browser, started.response
    fields = hidden_fields(challenge.text)

    missing = browser.post("/mfa/verify", data={"t": fields["t"], "code": _right(secret)})
    wrong = browser.post("/mfa/verify", data={**fields, "csrf": "forged", "code": _right(secret)})
    for answer in (missing, wrong):
        assert answer.status_code == 400 and "This form has expired" in answer.text
    no_tx = browser.post("/mfa/verify", data={"csrf": fields["csrf"], "code": _right(secret)})
    assert no_tx.status_code == 400 and EXPIRED in no_tx.text

    unknown = browser.post("/mfa/select", data={**fields, "authenticator_id": "otp|dev_nope"})
    assert unknown.status_code == 400 and "Choose one of the listed methods." in unknown.text
    foreign_csrf = browser.post("/mfa/select", data={**fields, "csrf": "", "authenticator_id": ""})
    assert foreign_csrf.status_code == 400 and "This form has expired" in foreign_csrf.text

    # None of that was an answer: the right code still works on the untouched challenge.
    assert _succeeded(_answer(browser, challenge, _right(secret)))

    # Enrollment forms of a user with nothing enrolled yet.
    server.cli_json(
        "users",
        "create",
        "--email",
        "tamper-new@example.com",
        "--password",
        PASSWORD,
        "--email-verified",
    )
    fresh = start_login(server.base_url, client_id, REDIRECT, "tamper-new@example.com", PASSWORD)
    assert "Secure your account" in fresh.response.text
    for factor in ("nope", "recovery-code", ""):
        answer = submit(fresh.browser, fresh.response, "/mfa/enroll", factor=factor)
        assert answer.status_code == 400 and "Cannot set up this method" in answer.text, factor
    no_csrf = fresh.browser.post(
        "/mfa/enroll", data={"t": hidden_fields(fresh.response.text)["t"], "factor": "otp"}
    )
    assert no_csrf.status_code == 400 and "This form has expired" in no_csrf.text
    # Confirming an enrollment that was never started is refused too.
    unstarted = submit(fresh.browser, fresh.response, "/mfa/enroll/confirm", code="123456")
    assert unstarted.status_code == 400 and EXPIRED in unstarted.text
