#!/usr/bin/python3
"""A scriptable SMTP submission server for oauthmail's integration tests.

Built on aiosmtpd 1.4.3 (Debian python3-aiosmtpd); run it with /usr/bin/python3.

It speaks plain SMTP, STARTTLS or implicit TLS; offers XOAUTH2, OAUTHBEARER (RFC 7628), PLAIN and
LOGIN; checks the client's SASL payloads strictly; answers a bad bearer token the way Gmail or
Exchange Online do; can refuse recipients and require AUTH; and stores every accepted message.

Events that tests look for are written to stderr, one per line, as "EVENT <name> key=value ...".
A client that breaks the SASL protocol (a malformed payload, a wrong dummy response to an error
challenge) produces a line starting with "PROTOCOL VIOLATION". Secrets (tokens, passwords) are never
written anywhere.

Listens on loopback only (the --host must be a loopback address).
"""

import argparse
import asyncio
import base64
import binascii
import hmac
import ipaddress
import json
import logging
import os
import re
import signal
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

GOOGLE_ERROR_CHALLENGE = json.dumps(
    {"status": "400", "schemes": "Bearer", "scope": "https://mail.google.com/"}, separators=(",", ":")
).encode("ascii")
GOOGLE_535 = (
    "535-5.7.8 Username and Password not accepted. For more information, go to",
    "535 5.7.8  https://support.google.com/mail/?p=BadCredentials x - gsmtp",
)
MICROSOFT_535 = "535 5.7.3 Authentication unsuccessful [TEST.prod.outlook.com]"
REQUIRE_AUTH_530 = "530 5.7.57 Client not authenticated to send mail. [TEST.prod.outlook.com]"

ALL_MECHANISMS = ("XOAUTH2", "OAUTHBEARER", "PLAIN", "LOGIN")

# RFC 6750 b64token, the syntax of a bearer token.
B64TOKEN = r"[A-Za-z0-9\-._~+/]+=*"
XOAUTH2_RE = re.compile(rb"user=([^\x01]+)\x01auth=Bearer (" + B64TOKEN.encode() + rb")\x01\x01")
# RFC 7628 §3.1: gs2-header kvsep *(kvpair) kvsep; key = 1*ALPHA; value = *(VCHAR / SP / HTAB / CR / LF)
OAUTHBEARER_RE = re.compile(rb"([ny]),(?:a=([^,]*))?,\x01((?:[A-Za-z]+=[\x21-\x7e \t\r\n]*\x01)*)\x01")
KVPAIR_RE = re.compile(rb"([A-Za-z]+)=([\x21-\x7e \t\r\n]*)\x01")
OAUTHBEARER_AUTH_RE = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] (" + B64TOKEN + r")")


def event(name, **fields):
    parts = [f"EVENT {name}"] + [f"{k}={v}" for k, v in fields.items()]
    print(" ".join(parts), file=sys.stderr, flush=True)


def violation(text):
    print(f"PROTOCOL VIOLATION: {text}", file=sys.stderr, flush=True)


def decode_saslname(raw):
    """RFC 5801 saslname: ',' is '=2C' and '=' is '=3D'; any other '=' is an error."""
    out = bytearray()
    i = 0
    while i < len(raw):
        if raw[i : i + 1] == b"=":
            code = raw[i : i + 3]
            if code == b"=2C":
                out += b","
            elif code == b"=3D":
                out += b"="
            else:
                return None
            i += 3
        else:
            out += raw[i : i + 1]
            i += 1
    return bytes(out)


class Config:
    def __init__(self, args):
        self.tls = args.tls
        self.user = args.user
        self.token = b""
        if args.token_file:
            with open(args.token_file, "rb") as f:
                self.token = f.read().strip()
        self.error_style = args.error_style
        self.require_auth = args.require_auth
        self.reject_rcpt = {a.lower() for a in (args.reject_rcpt or [])}
        self.out = args.out
        self.pipelining = args.pipelining
        self.mechanisms = [m.strip().upper() for m in args.mechanisms.split(",") if m.strip()]
        for m in self.mechanisms:
            if m not in ALL_MECHANISMS:
                raise SystemExit(f"unknown mechanism {m}; known: {','.join(ALL_MECHANISMS)}")

    def credentials_ok(self, user, secret):
        if not self.token or self.user is None:
            return False
        return user == self.user.encode() and hmac.compare_digest(secret, self.token)


class OAuthSMTP(SMTP):
    """aiosmtpd's SMTP with XOAUTH2/OAUTHBEARER, Microsoft's 530 for MAIL before AUTH, and events."""

    # RFC 4954 §4: AUTH lines (initial response and continuations) may be 12288 octets; a JWT
    # access token in an XOAUTH2 initial response is far longer than aiosmtpd's default 1001.
    line_length_limit = 12288 + 2

    def __init__(self, handler, cfg, **kwargs):
        self.cfg = cfg
        super().__init__(handler, **kwargs)
        self.command_size_limits["AUTH"] = 12288

    # -- helpers -------------------------------------------------------------------------------

    def tls_active(self):
        return self.cfg.tls == "implicit" or self._tls_protocol is not None

    async def read_client_line(self):
        """One raw line from the client, CR LF removed; None on EOF. Logs a bare LF ending."""
        line = await self._reader.readline()
        if not line.endswith(b"\n"):
            event("client-eof-during-auth")
            return None
        if not line.endswith(b"\r\n"):
            violation("AUTH response line ended in a bare LF")
            return line[:-1]
        return line[:-2]

    async def challenge(self, data):
        """Sends '334 <base64 data>' and returns the client's raw (still base64) line, or None."""
        await self.push(b"334 " + base64.b64encode(data))
        return await self.read_client_line()

    async def decode_response(self, line):
        """Decodes a SASL response line; '*' and bad base64 are answered here (None returned)."""
        if line == b"*":
            event("auth-aborted")
            await self.push("501 5.7.0 Authentication aborted")
            return None
        try:
            return base64.b64decode(line, validate=True)
        except binascii.Error:
            violation("AUTH response is not base64")
            await self.push("501 5.5.2 Cannot decode base64")
            return None

    async def initial_response(self, mechanism, args):
        """The initial response from 'AUTH MECH <ir>', or the answer to an empty 334 challenge."""
        if len(args) >= 2:
            if args[1] == "=":
                return b""
            return await self.decode_response(args[1].encode("ascii", "replace"))
        line = await self.challenge(b"")
        if line is None:
            return None
        return await self.decode_response(line)

    async def refuse_bearer(self, mechanism):
        """Answers a refused bearer token the way the configured provider does."""
        if self.cfg.error_style == "google":
            line = await self.challenge(GOOGLE_ERROR_CHALLENGE)
            if line is None:
                return AuthResult(success=False, handled=True)
            expected = b"" if mechanism == "XOAUTH2" else b"AQ=="
            if line == expected:
                event("dummy-response-ok", mechanism=mechanism)
            else:
                shown = "*" if line == b"*" else f"{len(line)} octets"
                violation(
                    f"{mechanism}: wrong response to the error challenge ({shown}); expected "
                    + ("an empty line" if mechanism == "XOAUTH2" else "'AQ==' (a single 0x01)")
                )
            for reply in GOOGLE_535:
                await self.push(reply)
        else:
            await self.push(MICROSOFT_535)
        return AuthResult(success=False, handled=True)

    async def check_bearer(self, mechanism, user, token):
        if self.cfg.credentials_ok(user, token):
            event("auth-ok", mechanism=mechanism, user=user.decode("utf-8", "replace"), tls=self.tls_yes_no())
            return AuthResult(success=True, auth_data=user.decode("utf-8", "replace"))
        event("auth-bad-token", mechanism=mechanism, user=user.decode("utf-8", "replace"))
        return await self.refuse_bearer(mechanism)

    def tls_yes_no(self):
        return "yes" if self.tls_active() else "no"

    # -- overrides -----------------------------------------------------------------------------

    async def check_auth_needed(self, caller_method):
        if self.cfg.require_auth and not self.session.authenticated:
            event("refused-unauthenticated", command=caller_method)
            await self.push(REQUIRE_AUTH_530)
            return True
        return False

    async def smtp_AUTH(self, arg):
        if arg:
            # Mechanism names are case-insensitive (RFC 4954 §4); aiosmtpd compares them as given.
            mech, _, rest = arg.partition(" ")
            arg = mech.upper() + (" " + rest if rest else "")
        event(
            "auth-command",
            mechanism=(arg.split()[0] if arg else "-"),
            initial_response=("yes" if arg and len(arg.split()) > 1 else "no"),
            tls=self.tls_yes_no(),
        )
        await super().smtp_AUTH(arg)

    async def smtp_STARTTLS(self, arg):
        event("starttls")
        await super().smtp_STARTTLS(arg)

    async def smtp_MAIL(self, arg):
        # RFC 2920: a pipelining client sends RCPT (and DATA) without waiting for MAIL's reply, so
        # they are already buffered here. aiosmtpd itself reads commands one line at a time.
        pipelined = len(self._reader._buffer) > 0
        event(
            "mail-command",
            tls=self.tls_yes_no(),
            authenticated=("yes" if self.session.authenticated else "no"),
            pipelined=("yes" if pipelined else "no"),
        )
        if pipelined and not self.cfg.pipelining:
            violation("commands pipelined after MAIL although PIPELINING was not offered")
        await super().smtp_MAIL(arg)

    # -- SASL mechanisms (found by aiosmtpd through the auth_ prefix) --------------------------

    async def auth_XOAUTH2(self, _, args):
        payload = await self.initial_response("XOAUTH2", args)
        if payload is None:
            return AuthResult(success=False, handled=True)
        m = XOAUTH2_RE.fullmatch(payload)
        if not m:
            violation("XOAUTH2: malformed initial response (want user=U^Aauth=Bearer T^A^A)")
            await self.push("501 5.5.2 Malformed XOAUTH2 response")
            return AuthResult(success=False, handled=True)
        return await self.check_bearer("XOAUTH2", m.group(1), m.group(2))

    async def auth_OAUTHBEARER(self, _, args):
        payload = await self.initial_response("OAUTHBEARER", args)
        if payload is None:
            return AuthResult(success=False, handled=True)
        m = OAUTHBEARER_RE.fullmatch(payload)
        if not m:
            violation("OAUTHBEARER: malformed client response (want n,a=U,^Aauth=Bearer T^A^A)")
            await self.push("501 5.5.2 Malformed OAUTHBEARER response")
            return AuthResult(success=False, handled=True)
        cbind, authzid, pairs = m.group(1), m.group(2), m.group(3)
        if cbind != b"n":
            violation("OAUTHBEARER: channel binding flag is not 'n'")
        if authzid is None:
            violation("OAUTHBEARER: gs2 header has no a= (authzid)")
            await self.push("501 5.5.2 OAUTHBEARER needs a=")
            return AuthResult(success=False, handled=True)
        user = decode_saslname(authzid)
        if user is None:
            violation("OAUTHBEARER: bad saslname encoding in a=")
            await self.push("501 5.5.2 Malformed authzid")
            return AuthResult(success=False, handled=True)
        kv = {}
        for key, value in KVPAIR_RE.findall(pairs):
            key = key.decode("ascii")
            if key in kv:
                violation(f"OAUTHBEARER: key {key} appears twice")
            kv[key] = value.decode("ascii")
        auth = OAUTHBEARER_AUTH_RE.fullmatch(kv.get("auth", ""))
        if not auth:
            violation("OAUTHBEARER: auth= missing or not 'Bearer <b64token>'")
            await self.push("501 5.5.2 Malformed OAUTHBEARER auth value")
            return AuthResult(success=False, handled=True)
        if "port" in kv and not kv["port"].isdigit():
            violation("OAUTHBEARER: port= is not a number")
        event("oauthbearer-fields", host=kv.get("host", "-"), port=kv.get("port", "-"))
        return await self.check_bearer("OAUTHBEARER", user, auth.group(1).encode("ascii"))


class Handler:
    def __init__(self, cfg):
        self.cfg = cfg
        self.count = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        # With this (new-style) hook aiosmtpd leaves recording the client's name to the handler.
        session.host_name = hostname
        if self.cfg.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.cfg.reject_rcpt:
            event("rcpt-refused", address=address)
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        n = self.count
        if self.cfg.out:
            base = os.path.join(self.cfg.out, f"{n:03d}")
            write_atomically(base + ".eml", envelope.original_content)
            meta = {
                "mail_from": utf8(envelope.mail_from),
                "rcpt_tos": [utf8(r) for r in envelope.rcpt_tos],
                "auth_user": session.auth_data if session.authenticated else None,
                "tls": server.tls_yes_no(),
            }
            write_atomically(base + ".json", json.dumps(meta, indent=1).encode("utf-8"))
        event("message-accepted", number=n, recipients=len(envelope.rcpt_tos), octets=len(envelope.original_content))
        return f"250 2.0.0 OK queued as {n:03d}"


def utf8(text):
    """aiosmtpd decodes commands with surrogateescape: SMTPUTF8 addresses back to real UTF-8."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace") if text is not None else None


def write_atomically(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tls", choices=("none", "starttls", "implicit"), default="none")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--mechanisms", default="XOAUTH2,OAUTHBEARER,PLAIN,LOGIN")
    p.add_argument("--user")
    p.add_argument("--token-file", help="file holding the accepted bearer token (or password)")
    p.add_argument("--error-style", choices=("google", "microsoft"), default="google")
    p.add_argument("--require-auth", action="store_true", help="MAIL/RCPT/DATA before AUTH get 530 5.7.57")
    p.add_argument("--pipelining", action="store_true", help="announce PIPELINING (RFC 2920)")
    p.add_argument("--require-starttls", action="store_true", help="commands before STARTTLS get 530")
    p.add_argument("--reject-rcpt", action="append", metavar="ADDR", help="refuse this recipient with 550 5.1.1")
    p.add_argument("--out", help="directory for NNN.eml and NNN.json of each accepted message")
    p.add_argument("--ready-file", help="written once the server listens")
    p.add_argument("--hostname", default="oauthmail-test.localhost", help="name in the greeting")
    p.add_argument("--verbose", action="store_true", help="aiosmtpd debug log (command lines, not AUTH data)")
    p.add_argument("--size-limit", type=int, default=33554432, help="SIZE announced and enforced (octets)")
    args = p.parse_args(argv)
    if not ipaddress.ip_address(args.host).is_loopback:
        p.error("--host must be a loopback address")
    if args.tls != "none" and not (args.cert and args.key):
        p.error("--tls starttls/implicit needs --cert and --key")
    return args


async def serve(args, cfg):
    loop = asyncio.get_running_loop()
    tls_context = None
    if args.tls != "none":
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)  # no client certificates
        tls_context.minimum_version = ssl.TLSVersion.TLSv1_2
        tls_context.load_cert_chain(args.cert, args.key)
    excluded = [m for m in ALL_MECHANISMS if m not in cfg.mechanisms]
    handler = Handler(cfg)

    def authenticator(server, session, envelope, mechanism, auth_data):
        # PLAIN and LOGIN (aiosmtpd's built-in mechanisms) end here.
        ok = isinstance(auth_data, LoginPassword) and cfg.credentials_ok(auth_data.login, auth_data.password)
        login = auth_data.login.decode("utf-8", "replace") if isinstance(auth_data, LoginPassword) else "?"
        event("auth-ok" if ok else "auth-bad-password", mechanism=mechanism, user=login, tls=server.tls_yes_no())
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

    def factory():
        return OAuthSMTP(
            handler,
            cfg,
            hostname=args.hostname,
            tls_context=tls_context if args.tls == "starttls" else None,
            require_starttls=args.require_starttls,
            # STARTTLS mode: AUTH only after TLS. Implicit TLS: aiosmtpd does not see that the
            # connection is TLS (it only tracks STARTTLS), and every byte is encrypted anyway.
            # None: AUTH is offered over plain TCP, so tests can check that the client refuses.
            auth_require_tls=(args.tls == "starttls"),
            auth_exclude_mechanism=excluded,
            authenticator=authenticator,
            auth_required=False,  # check_auth_needed() is overridden for --require-auth
            data_size_limit=args.size_limit,
            enable_SMTPUTF8=False,  # oauthmail's refusal of UTF-8 addresses without it is tested here
            loop=loop,
        )

    server = await loop.create_server(
        factory, host=args.host, port=args.port, ssl=tls_context if args.tls == "implicit" else None
    )
    event("listening", host=args.host, port=args.port, tls=args.tls, mechanisms=",".join(cfg.mechanisms))
    if args.ready_file:
        write_atomically(args.ready_file, f"{os.getpid()} {args.port}\n".encode("ascii"))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    event("stopping")
    server.close()
    await server.wait_closed()


def main(argv):
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    # aiosmtpd warns about its own deprecated Session.login_data on every successful AUTH.
    logging.getLogger("mail.log").addFilter(lambda record: "login_data is deprecated" not in record.getMessage())
    cfg = Config(args)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    asyncio.run(serve(args, cfg))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
