"""Sign-in by email, end to end: `POST /v1/{org}/user/signin` {"email", "redirect_link"} (anonymous) mails a
one-time link to `GET /v1/{org}/user/signin/redeem?token=…`, which answers 303 to the redirect link with
`#id_token=…&expires_at=…` in the fragment.

The mailing server runs with COMPADRE_EMAIL_SMTP_URL pointing at `FakeSMTP`, a tiny SMTP server of this
test (stdlib socketserver in a thread on 127.0.0.1) that records every message (envelope, data, AUTH
credentials). Compadre sends with Python's smtplib: EHLO, STARTTLS only when offered (never here), AUTH
only when the URL carries user:password (smtplib logs in over a plain connection when the server
advertises AUTH), then MAIL/RCPT/DATA.

Checked:
- a user's address gets 200 and exactly one message, to that address, from COMPADRE_EMAIL_FROM, with
  the link; an unknown address gets the same answer (status, headers, body; request ids aside) and
  no message;
- the link redirects (303, no-store) to the redirect link with a token of that user in the fragment;
  the token works as a Bearer token; the link works once; a made-up or missing token is 403; under
  another organization of the same server the link is 403 (and still good in its own);
- credentials of the URL (percent-encoded) arrive through AUTH PLAIN as given;
- an unreachable SMTP server does not tell users' addresses from others, nor show the mailer's
  traceback;
- the link points at the server whatever Host header the request that asked for it carried;
- the suite's default server (no SMTP, no COMPADRE_EMAIL_LOG_LINKS) answers 503 to every address.
"""

from __future__ import annotations

import base64
import email
import email.policy
import re
import secrets
import socketserver
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from conftest import Compadre, _start_compadre, free_port, init_org
from fake_openai import FakeOpenAI
from tool_helpers import ok

SENDER = "signin@compadre.example.com"
REDIRECT = "https://app.example.com/after-sign-in"
# Credentials of the authenticating server's URL: reserved characters, and a literal `%41` that must
# not be decoded twice.
SMTP_USER = "mailer@example.com"
SMTP_PASSWORD = "p:ss/w@rd %41 x"


# --------------------------------------------------------------------------
# A fake SMTP server
# --------------------------------------------------------------------------


@dataclass
class Mail:
    mail_from: str
    rcpt_to: list[str]
    data: bytes
    auth: tuple[str, str] | None  # (user, password) of the session's AUTH, if any

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)

    @property
    def text(self) -> str:
        """The decoded text of the message (quoted-printable or base64 undone)."""
        return self.message.get_content()


@dataclass
class FakeSMTP:
    """Records every message; `offer_auth` advertises AUTH PLAIN LOGIN (no STARTTLS ever)."""

    offer_auth: bool = False
    mails: list[Mail] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Condition()
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 30

            def send(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")
                self.wfile.flush()

            def read(self) -> str | None:
                line = self.rfile.readline(65536)
                if not line:
                    return None
                return line.decode("utf-8", "replace").rstrip("\r\n")

            def handle(self) -> None:
                self.send("220 fake.smtp ESMTP ready")
                auth: tuple[str, str] | None = None
                mail_from, rcpt_to = "", []
                while (line := self.read()) is not None:
                    verb, _, arg = line.partition(" ")
                    verb = verb.upper()
                    with fake._lock:
                        fake.commands.append(verb)
                    if verb == "EHLO":
                        if fake.offer_auth:
                            self.send("250-fake.smtp")
                            self.send("250 AUTH PLAIN LOGIN")
                        else:
                            self.send("250 fake.smtp")
                    elif verb == "HELO":
                        self.send("250 fake.smtp")
                    elif verb == "AUTH" and fake.offer_auth:
                        mechanism, _, initial = arg.partition(" ")
                        if mechanism.upper() == "PLAIN":
                            if not initial:
                                self.send("334 ")
                                initial = self.read() or ""
                            _, user, password = base64.b64decode(initial).decode().split("\0", 2)
                        elif mechanism.upper() == "LOGIN":
                            if initial:
                                user = base64.b64decode(initial).decode()
                            else:
                                self.send("334 VXNlcm5hbWU6")
                                user = base64.b64decode(self.read() or "").decode()
                            self.send("334 UGFzc3dvcmQ6")
                            password = base64.b64decode(self.read() or "").decode()
                        else:
                            self.send("504 unrecognized mechanism")
                            continue
                        auth = (user, password)
                        self.send("235 2.7.0 authenticated")
                    elif verb == "MAIL":
                        mail_from, rcpt_to = _address(arg), []
                        self.send("250 ok")
                    elif verb == "RCPT":
                        rcpt_to.append(_address(arg))
                        self.send("250 ok")
                    elif verb == "DATA":
                        self.send("354 end data with <CR><LF>.<CR><LF>")
                        lines = []
                        while True:
                            raw = self.rfile.readline(1 << 20)
                            if not raw or raw == b".\r\n":
                                break
                            lines.append(raw[1:] if raw.startswith(b"..") else raw)  # undo dot-stuffing
                        with fake._lock:
                            fake.mails.append(Mail(mail_from, rcpt_to, b"".join(lines), auth))
                            fake._lock.notify_all()
                        self.send("250 ok: queued")
                    elif verb in ("RSET", "NOOP"):
                        self.send("250 ok")
                    elif verb == "QUIT":
                        self.send("221 bye")
                        return
                    else:
                        self.send("502 command not implemented")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeSMTP":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def count(self) -> int:
        with self._lock:
            return len(self.mails)

    def wait_for(self, n: int, timeout: float = 30.0) -> list[Mail]:
        """The first `n` messages, waiting for them to arrive."""
        with self._lock:
            self._lock.wait_for(lambda: len(self.mails) >= n, timeout=timeout)
            assert len(self.mails) >= n, f"{len(self.mails)} message(s) arrived, expected {n}; commands {self.commands}"
            return list(self.mails[:n])


def _address(arg: str) -> str:
    found = re.search(r"<([^>]*)>", arg)
    return found.group(1) if found else arg.split(":", 1)[-1].strip()


# --------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------


def mailing_server(compadre_bin: Path, db_backend: str, workdir: Path, smtp_url: str) -> Compadre:
    return _start_compadre(
        compadre_bin, db_backend, workdir,
        extra_env={"COMPADRE_EMAIL_SMTP_URL": smtp_url, "COMPADRE_EMAIL_FROM": SENDER},
    )


@pytest.fixture(scope="module")
def smtp() -> Iterator[FakeSMTP]:
    with FakeSMTP() as fake:
        yield fake


@pytest.fixture(scope="module")
def mailing(compadre_bin: Path, db_backend: str, tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI,
            smtp: FakeSMTP):
    """A server that mails through the fake SMTP server (no credentials)."""
    instance = mailing_server(compadre_bin, db_backend, tmp_path_factory.mktemp("email"), f"smtp://127.0.0.1:{smtp.port}")
    try:
        yield instance
    finally:
        instance.server.stop()


def new_user(compadre: Compadre) -> tuple[str, str]:
    """A plain user (DefaultUserRole) invited now: (user id, email)."""
    address = f"signin-{secrets.token_hex(6)}@example.com"
    with httpx.Client(base_url=f"{compadre.server.base_url}/v1/{compadre.org}",
                      headers={"Authorization": f"Bearer {compadre.access_token()}"}, timeout=30) as http:
        created = ok(http.post("/user/", json={"first_name": "Sign", "last_name": "In", "email": address,
                                               "role_name": "DefaultUserRole"}), 201)
    return created["user_id"], address


def ask(compadre: Compadre, address: str, redirect: str = REDIRECT, **headers: str) -> httpx.Response:
    """POST /user/signin, anonymous."""
    return httpx.post(f"{compadre.server.base_url}/v1/{compadre.org}/user/signin",
                      json={"email": address, "redirect_link": redirect}, headers=headers, timeout=60)


def link_of(mail: Mail) -> str:
    """The one sign-in link of a message."""
    found = re.findall(r"\S+/user/signin/redeem\?token=\S+", mail.text)
    assert len(found) == 1, mail.text
    return found[0]


def redeem(url: str) -> httpx.Response:
    return httpx.get(url, follow_redirects=False, timeout=30)


def assert_same_answer(a: httpx.Response, b: httpx.Response) -> None:
    """Same status, headers (Date and X-Request-ID aside) and body (its request id aside). Bodies are
    compared as bytes with each answer's own request id blanked; failing that, as JSON (the server's
    key order varies from one answer to the next)."""
    assert a.status_code == b.status_code, (a.status_code, a.text, b.status_code, b.text)
    skip = {"date", "x-request-id"}
    ha = sorted((k.lower(), v) for k, v in a.headers.items() if k.lower() not in skip)
    hb = sorted((k.lower(), v) for k, v in b.headers.items() if k.lower() not in skip)
    assert ha == hb, (ha, hb)
    body_a = a.content.replace(a.headers.get("x-request-id", "\0").encode(), b"<id>")
    body_b = b.content.replace(b.headers.get("x-request-id", "\0").encode(), b"<id>")
    if body_a != body_b:
        ja, jb = a.json(), b.json()
        if isinstance(ja, dict) and isinstance(jb, dict):
            ja.pop("request_id", None)
            jb.pop("request_id", None)
        assert ja == jb, (a.text, b.text)


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------


def test_known_address_gets_one_link_and_unknown_the_same_answer(mailing: Compadre, smtp: FakeSMTP):
    user_id, address = new_user(mailing)
    before = smtp.count()
    # The unknown address first: a message it made (even late) would be among the ones counted below.
    unknown = ask(mailing, f"nobody-{secrets.token_hex(6)}@example.com")
    known = ask(mailing, address)
    assert known.status_code == 200, known.text
    assert_same_answer(known, unknown)

    mail = smtp.wait_for(before + 1)[-1]
    time.sleep(0.5)  # anything else on its way
    assert smtp.count() == before + 1, [m.rcpt_to for m in smtp.mails[before:]]
    assert mail.rcpt_to == [address], mail.rcpt_to
    assert mail.mail_from == SENDER, mail.mail_from
    assert mail.message["To"] == address and mail.message["From"] == SENDER, (mail.message["To"], mail.message["From"])
    assert mail.auth is None  # no credentials in the URL: no AUTH
    assert "STARTTLS" not in smtp.commands  # not offered, not asked

    link = link_of(mail)
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}" == mailing.server.base_url, link
    assert parts.path == f"/v1/{mailing.org}/user/signin/redeem", link
    assert parse_qs(parts.query)["token"][0], link


def test_link_redirects_with_a_token_of_the_user_once(mailing: Compadre, smtp: FakeSMTP):
    user_id, address = new_user(mailing)
    before = smtp.count()
    ok(ask(mailing, address, redirect=REDIRECT + "?from=mail"))
    link = link_of(smtp.wait_for(before + 1)[-1])

    first = redeem(link)
    assert first.status_code == 303, first.text
    assert first.headers.get("cache-control") == "no-store", first.headers
    location = first.headers["location"]
    target, _, fragment = location.partition("#")
    assert target == REDIRECT + "?from=mail", location
    params = parse_qs(fragment, strict_parsing=True)
    assert set(params) == {"id_token", "expires_at"}, location
    token, expires_at = params["id_token"][0], params["expires_at"][0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", expires_at), expires_at

    # The token is the user's.
    with httpx.Client(base_url=f"{mailing.server.base_url}/v1/{mailing.org}",
                      headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        users = ok(http.get("/user/", params={"id": user_id}))["users"]
    assert [u["user_id"] for u in users] == [user_id] and users[0]["email"] == address, users

    # Once only; a made-up token or none at all is refused alike.
    again = redeem(link)
    assert again.status_code == 403, again.text
    assert "location" not in again.headers, again.headers
    made_up = redeem(f"{mailing.server.base_url}/v1/{mailing.org}/user/signin/redeem?token={secrets.token_urlsafe(32)}")
    assert made_up.status_code == 403, made_up.text
    missing = redeem(f"{mailing.server.base_url}/v1/{mailing.org}/user/signin/redeem")
    assert missing.status_code == 403, missing.text


def test_link_of_one_organization_does_not_redeem_in_another(mailing: Compadre, smtp: FakeSMTP, compadre_bin: Path):
    """The token is bound to its organization: under another organization of the same server it is 403 (and
    not used up there: it still redeems in its own)."""
    _, address = new_user(mailing)
    before = smtp.count()
    ok(ask(mailing, address))
    link = link_of(smtp.wait_for(before + 1)[-1])
    token = parse_qs(urlsplit(link).query)["token"][0]
    other = init_org(compadre_bin, f"mail{secrets.token_hex(5)}", mailing.server.database_url)
    elsewhere = redeem(f"{mailing.server.base_url}/v1/{other.organization_id}/user/signin/redeem?token={quote(token)}")
    assert elsewhere.status_code == 403, elsewhere.text
    assert "location" not in elsewhere.headers, elsewhere.headers
    assert redeem(link).status_code == 303


@pytest.mark.xfail(strict=True, reason='server bug (issue 16): the mailed link takes its host from the request (MediaRoutes.origin); a caller naming Host: attacker.example gets the victim a link to that host. Needs a configured public base URL.')
def test_link_points_at_the_server_whatever_host_the_request_named(mailing: Compadre, smtp: FakeSMTP):
    """Anyone may ask for a user's link, and the request's Host header is theirs to choose: a link built on it
    would send the user's token to a host of the asker's (host-header poisoning of sign-in links)."""
    _, address = new_user(mailing)
    before = smtp.count()
    ok(ask(mailing, address, Host="attacker.example"))
    link = link_of(smtp.wait_for(before + 1)[-1])
    assert "attacker.example" not in urlsplit(link).netloc, link


def test_credentials_of_the_url_arrive_through_auth(compadre_bin: Path, db_backend: str, tmp_path: Path,
                                                    fake_openai: FakeOpenAI):
    with FakeSMTP(offer_auth=True) as authed:
        url = f"smtp://{quote(SMTP_USER, safe='')}:{quote(SMTP_PASSWORD, safe='')}@127.0.0.1:{authed.port}"
        instance = mailing_server(compadre_bin, db_backend, tmp_path, url)
        try:
            _, address = new_user(instance)
            ok(ask(instance, address))
            mail = authed.wait_for(1)[0]
        finally:
            instance.server.stop()
    assert "AUTH" in authed.commands and "STARTTLS" not in authed.commands, authed.commands
    assert mail.auth == (SMTP_USER, SMTP_PASSWORD), mail.auth
    assert mail.rcpt_to == [address], mail.rcpt_to


@pytest.fixture(scope="module")
def smtp_down(compadre_bin: Path, db_backend: str, tmp_path_factory: pytest.TempPathFactory,
              fake_openai: FakeOpenAI) -> tuple[httpx.Response, httpx.Response]:
    """The answers of a server whose SMTP server is down (nobody listens on its port) to a user's address
    and to an unknown one."""
    instance = mailing_server(compadre_bin, db_backend, tmp_path_factory.mktemp("smtp-down"),
                              f"smtp://127.0.0.1:{free_port()}")
    try:
        _, address = new_user(instance)
        known = ask(instance, address)
        unknown = ask(instance, f"nobody-{secrets.token_hex(6)}@example.com")
    finally:
        instance.server.stop()
    return known, unknown


@pytest.mark.xfail(strict=True, reason='server bug (issue 16): mail is sent on the request path, so an SMTP failure answers 503 for a user but 200 for an unknown address. Needs mail off the request path (a durable job).')
def test_unreachable_smtp_server_answers_alike_for_every_address(smtp_down: tuple[httpx.Response, httpx.Response]):
    """When mail fails, a user's address and an unknown one still get the same answer: otherwise anyone could
    tell the organization's users from other addresses whenever the SMTP server is down."""
    known, unknown = smtp_down
    assert_same_answer(known, unknown)


@pytest.mark.xfail(strict=True, reason="server bug (issue 16): the 503 body carries smtplib's traceback (SMTPMailer puts the child's standard error in the message).")
def test_mail_failure_shows_no_internals(smtp_down: tuple[httpx.Response, httpx.Response]):
    """What the mailer's child process printed (a Python traceback: file paths, versions) is for the server's
    log, not for an anonymous caller."""
    for answer in smtp_down:
        detail = str(answer.json().get("detail", "")) if answer.content.startswith(b"{") else answer.text
        assert not re.search(r'Traceback|File "|\.py\b|Errno', detail), detail


def test_without_smtp_every_address_is_503(compadre: Compadre):
    """The suite's default server mails nothing: 503 for a user's address and an unknown one alike."""
    _, address = new_user(compadre)
    known = ask(compadre, address)
    unknown = ask(compadre, f"nobody-{secrets.token_hex(6)}@example.com")
    assert known.status_code == 503, known.text
    assert_same_answer(known, unknown)
    # The administrator `compadre init` made has an address too.
    admin = ask(compadre, f"admin@{compadre.org}.example.com")
    assert_same_answer(admin, unknown)
