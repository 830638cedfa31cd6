"""Each way of authenticating, configured by settings, against a server that checks it."""

import base64
import itertools
from urllib.parse import parse_qsl

import pytest

from connectors.errors import AuthenticationError
from connectors.rest.client import RestConnector

from .conftest import Reply

PAGE = {"results": [{"id": "1", "updated_at": "2026-01-01T00:00:00Z"}]}
ONE_PAGE = {"pagination": {"type": "none"}}


def connector(api, auth, token="s3cret"):
    return RestConnector(api.url, token=token, settings={"auth": auth, **ONE_PAGE})


def read(connector):
    return list(connector.iter_records("contacts"))


def guarded(check):
    """A server whose records need ``check(seen)`` to hold."""
    return lambda seen: Reply(json=PAGE) if check(seen) else Reply(401, {"detail": "who?"})


def test_an_api_key_goes_in_the_header_the_settings_name(api):
    api.answer(guarded(lambda seen: seen.header("X-Key") == "s3cret"))

    assert read(connector(api, {"type": "api_key", "name": "X-Key"}))
    assert api.seen[0].header("Authorization") is None


def test_an_api_key_goes_in_the_query_parameter_the_settings_name(api):
    api.answer(guarded(lambda seen: seen.query.get("key") == "s3cret"))

    assert read(connector(api, {"type": "api_key", "in": "query", "name": "key"}))


def test_basic_auth_takes_the_user_from_settings_and_the_password_from_the_token(api):
    expected = "Basic " + base64.b64encode(b"sync:s3cret").decode()
    api.answer(guarded(lambda seen: seen.header("Authorization") == expected))

    assert read(connector(api, {"type": "basic", "username": "sync"}))


def test_a_bearer_prefix_can_be_another_word(api):
    api.answer(guarded(lambda seen: seen.header("Authorization") == "Token s3cret"))

    assert read(connector(api, {"type": "bearer", "prefix": "Token"}))


def oauth_server(api, *, expires_in=3600, refuse_first_token=False):
    issued = itertools.count(1)

    def handler(seen):
        if seen.path == "/oauth/token":
            form = dict(parse_qsl(seen.body.decode()))
            if form != {
                "grant_type": "client_credentials",
                "client_id": "console",
                "client_secret": "s3cret",
                "scope": "contacts",
            }:
                return Reply(401, {"error": "invalid_client"})
            return Reply(json={"access_token": f"T{next(issued)}", "expires_in": expires_in})
        token = (seen.header("Authorization") or "").removeprefix("Bearer ")
        if refuse_first_token and token == "T1":
            return Reply(401, {"error": "invalid_token"})
        return Reply(json=PAGE) if token.startswith("T") else Reply(401)

    api.answer(handler)


OAUTH = {
    "type": "oauth2_client_credentials",
    "token_url": "/oauth/token",
    "client_id": "console",
    "scope": "contacts",
}


def test_oauth2_client_credentials_fetch_one_token_and_reuse_it(api):
    oauth_server(api)
    erp = connector(api, OAUTH)

    read(erp), read(erp)

    assert api.paths() == ["POST /oauth/token", "GET /contacts", "GET /contacts"]
    assert api.seen[2].header("Authorization") == "Bearer T1"


def test_an_oauth2_token_about_to_expire_is_renewed_before_it_is_used(api):
    oauth_server(api, expires_in=30)  # within the renewal margin from the start
    erp = connector(api, OAUTH)

    read(erp), read(erp)

    assert api.seen[3].header("Authorization") == "Bearer T2"


def test_a_refused_oauth2_token_is_renewed_once_and_the_request_sent_again(api):
    oauth_server(api, refuse_first_token=True)
    erp = connector(api, OAUTH)

    assert read(erp)
    assert api.paths() == [
        "POST /oauth/token",
        "GET /contacts",
        "POST /oauth/token",
        "GET /contacts",
    ]


def test_a_wrong_client_secret_is_an_authentication_error_naming_the_token_request(api):
    oauth_server(api)

    with pytest.raises(AuthenticationError, match="token request to /oauth/token refused"):
        read(connector(api, OAUTH, token="wrong"))


SESSION = {
    "type": "session",
    "login_url": "/auth/login",
    "username": "sync",
    "username_field": "user",
    "token_path": "session.key",
    "prefix": "Session",
}


def session_server(api, *, expire_after_uses=None):
    sessions = {}
    logins = itertools.count(1)

    def handler(seen):
        if seen.path == "/auth/login":
            if seen.json() != {"user": "sync", "password": "s3cret"}:
                return Reply(401, {"detail": "Invalid credentials."})
            key = f"S{next(logins)}"
            sessions[key] = 0
            return Reply(json={"session": {"key": key}})
        key = (seen.header("Authorization") or "").removeprefix("Session ")
        if key not in sessions:
            return Reply(401)
        sessions[key] += 1
        if expire_after_uses and sessions[key] > expire_after_uses:
            return Reply(401, {"detail": "Session expired."})
        return Reply(json=PAGE)

    api.answer(handler)


def test_a_session_token_from_the_login_is_reused_until_refused_then_renewed(api):
    session_server(api, expire_after_uses=2)
    crm = connector(api, SESSION)

    read(crm), read(crm), read(crm)

    assert api.paths() == [
        "POST /auth/login",
        "GET /contacts",
        "GET /contacts",
        "GET /contacts",  # refused: the session ran out
        "POST /auth/login",
        "GET /contacts",
    ]
    assert api.seen[-1].header("Authorization") == "Session S2"


def test_a_session_refused_again_after_a_fresh_login_is_an_authentication_error(api):
    session_server(api, expire_after_uses=-1)  # every session refused at once

    with pytest.raises(AuthenticationError):
        read(connector(api, SESSION))
    assert api.paths().count("POST /auth/login") == 2


def test_a_cookie_session_is_carried_by_the_cookie_the_login_set(api):
    def handler(seen):
        if seen.path == "/login":
            return Reply(json={"ok": True}, headers={"Set-Cookie": "sid=abc; Path=/"})
        return Reply(json=PAGE) if seen.header("Cookie") == "sid=abc" else Reply(401)

    api.answer(handler)
    auth = {"type": "session", "login_url": "/login", "token_path": None}

    assert read(connector(api, auth))


def test_without_its_secret_an_auth_that_needs_one_sends_nothing(api):
    api.answer(lambda seen: Reply(json=PAGE))

    with pytest.raises(AuthenticationError, match="no API key"):
        read(connector(api, {"type": "api_key"}, token=None))
    assert api.seen == []
