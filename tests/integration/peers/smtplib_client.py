#!/usr/bin/python3
"""A real third-party SMTP client for the sandbox tests: Python's smtplib with a hand-built
XOAUTH2 (or OAUTHBEARER) string, STARTTLS or implicit TLS verified against the sandbox's CA.

usage: smtplib_client.py --host H --port P --ca CA --user U --token-file F --from A --to B
                         [--mechanism XOAUTH2|OAUTHBEARER] [--implicit-tls] [--no-starttls]
Prints one JSON line: {"ok": true, "ehlo": [...], "auth": [code, text], "data": [code, text]}
or {"ok": false, "stage": "...", "code": N, "text": "...", "ehlo": [...]}; exit 0 either way
(2 for usage errors), so the test asserts on what the server said.
"""
import argparse
import json
import smtplib
import ssl
import sys


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--token-file", required=True)
    p.add_argument("--from", dest="sender", required=True)
    p.add_argument("--to", action="append", required=True)
    p.add_argument("--mechanism", default="XOAUTH2")
    p.add_argument("--implicit-tls", action="store_true")
    p.add_argument("--no-starttls", action="store_true")
    p.add_argument("--subject", default="smtplib test")
    a = p.parse_args()
    token = open(a.token_file).read().strip()
    ctx = ssl.create_default_context(cafile=a.ca)
    out = {"ok": False}
    stage = "connect"
    try:
        if a.implicit_tls:
            s = smtplib.SMTP_SSL(a.host, a.port, context=ctx, timeout=20)
        else:
            s = smtplib.SMTP(a.host, a.port, timeout=20)
        stage = "ehlo"
        s.ehlo("smtplib.test")
        if not a.implicit_tls and not a.no_starttls:
            stage = "starttls"
            s.starttls(context=ctx)
            s.ehlo("smtplib.test")
        out["ehlo"] = s.ehlo_resp.decode(errors="replace").split("\n")
        stage = "auth"
        if a.mechanism.upper() == "XOAUTH2":
            initial = "user=%s\x01auth=Bearer %s\x01\x01" % (a.user, token)
            answer = ""  # XOAUTH2: empty response to an error challenge
        else:
            initial = "n,a=%s,\x01host=%s\x01port=%d\x01auth=Bearer %s\x01\x01" % (a.user, a.host, a.port, token)
            answer = "\x01"  # OAUTHBEARER: RFC 7628 section 3.2.3
        seen = {"n": 0}

        def auth_object(challenge=None):
            seen["n"] += 1
            if seen["n"] == 1:
                return initial
            out["challenge"] = challenge.decode(errors="replace") if isinstance(challenge, bytes) else challenge
            return answer

        code, text = s.auth(a.mechanism.upper(), auth_object, initial_response_ok=True)
        out["auth"] = [code, text.decode(errors="replace")]
        stage = "mail"
        msg = "From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n\r\nHello from smtplib.\r\n" % (a.sender, a.to[0], a.subject)
        refused = s.sendmail(a.sender, a.to, msg)
        out["refused"] = {rcpt: [code, text.decode(errors="replace")] for rcpt, (code, text) in refused.items()}
        out["data"] = [250, "accepted"]
        out["ok"] = True
        s.quit()
    except smtplib.SMTPAuthenticationError as e:
        out.update(stage="auth", code=e.smtp_code, text=e.smtp_error.decode(errors="replace"))
    except smtplib.SMTPRecipientsRefused as e:
        code, text = list(e.recipients.values())[0]
        out.update(stage="rcpt", code=code, text=text.decode(errors="replace"))
    except smtplib.SMTPSenderRefused as e:
        out.update(stage="mail", code=e.smtp_code, text=e.smtp_error.decode(errors="replace"))
    except smtplib.SMTPDataError as e:
        out.update(stage="data", code=e.smtp_code, text=e.smtp_error.decode(errors="replace"))
    except smtplib.SMTPResponseException as e:
        out.update(stage=stage, code=e.smtp_code, text=e.smtp_error.decode(errors="replace"))
    except (smtplib.SMTPException, OSError) as e:
        out.update(stage=stage, code=0, text=str(e))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
