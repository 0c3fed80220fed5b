#!/usr/bin/python3
"""A generic OAuth2 client nobody here wrote (Authlib, python3-authlib) against the sandbox's
identity provider: client credentials, refresh token, and the device flow (RFC 8628).

usage:
  authlib_client.py client_credentials --token-endpoint URL --client-id ID --secret-file F --scope S
  authlib_client.py refresh --token-endpoint URL --client-id ID --refresh-token-file F [--scope S]
  authlib_client.py device --device-endpoint URL --token-endpoint URL --client-id ID --scope S
      (prints {"user_code": ...} on the first line, flushes, then polls; prints the token response)
Prints JSON lines; tokens are written to --out FILE (never printed) when given.
"""
import argparse
import json
import sys
import time

from authlib.integrations.requests_client import OAuth2Session


def emit(obj):
    print(json.dumps(obj), flush=True)


def summary(token, out):
    if out:
        with open(out, "w") as f:
            json.dump(dict(token), f)
    return {"ok": True, "token_type": token.get("token_type"), "expires_in": token.get("expires_in"),
            "has_refresh_token": "refresh_token" in token, "scope": token.get("scope")}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("command")
    p.add_argument("--token-endpoint", required=True)
    p.add_argument("--device-endpoint")
    p.add_argument("--client-id", required=True)
    p.add_argument("--secret-file")
    p.add_argument("--refresh-token-file")
    p.add_argument("--scope", default=None)
    p.add_argument("--out")
    a = p.parse_args()
    secret = open(a.secret_file).read().strip() if a.secret_file else None
    try:
        if a.command == "client_credentials":
            s = OAuth2Session(a.client_id, secret, scope=a.scope, token_endpoint_auth_method="client_secret_post")
            token = s.fetch_token(a.token_endpoint, grant_type="client_credentials")
            emit(summary(token, a.out))
        elif a.command == "refresh":
            rt = open(a.refresh_token_file).read().strip()
            s = OAuth2Session(a.client_id, secret, scope=a.scope, token_endpoint_auth_method="none")
            token = s.refresh_token(a.token_endpoint, refresh_token=rt)
            emit(summary(token, a.out))
        elif a.command == "device":
            s = OAuth2Session(a.client_id, None, scope=a.scope, token_endpoint_auth_method="none")
            resp = s.post(a.device_endpoint, data={"client_id": a.client_id, "scope": a.scope}, withhold_token=True)
            resp.raise_for_status()
            d = resp.json()
            emit({"user_code": d["user_code"], "interval": d.get("interval", 5),
                  "verification_uri": d.get("verification_uri") or d.get("verification_url")})
            interval = int(d.get("interval", 5))
            deadline = time.time() + 60
            while time.time() < deadline:
                time.sleep(interval)
                try:
                    token = s.fetch_token(a.token_endpoint,
                                          grant_type="urn:ietf:params:oauth:grant-type:device_code",
                                          device_code=d["device_code"])
                    emit(summary(token, a.out))
                    return 0
                except Exception as e:  # authlib raises OAuthError for pending/slow_down
                    err = getattr(e, "error", str(e))
                    if err == "authorization_pending":
                        continue
                    if err == "slow_down":
                        interval += 5
                        continue
                    emit({"ok": False, "error": err})
                    return 0
            emit({"ok": False, "error": "timeout"})
        else:
            print("unknown command", file=sys.stderr)
            return 2
    except Exception as e:
        emit({"ok": False, "error": getattr(e, "error", None) or type(e).__name__,
              "description": getattr(e, "description", None) or str(e)[:300]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
