"""A third-party OAuth 1.0 signer against maas-sim: oauthlib's RFC 5849 HMAC-SHA1 and PLAINTEXT.

oauthlib (pinned in requirements.txt; python-libmaas depends on it too) signs the way RFC 5849
says: query parameters and form-urlencoded bodies are in the base string. MAAS (piston3) agrees
for GET and POST, and leaves PUT bodies out of the base string, so an RFC signer's PUT with a
form body gets MAAS's 401 - the real 3.6.5 region answers exactly so; maas-sim must too.
"""

import urllib.error
import urllib.parse
import urllib.request

from oauthlib import oauth1

PREFIX = "Authorization Error: 'Invalid signature. Expected signature base string: "


def call(sim, method, path, form=None, key=None, method_name=oauth1.SIGNATURE_HMAC, sign_body=True):
    consumer, token, secret = (key or sim.admin_key).split(":")
    client = oauth1.Client(consumer, client_secret="", resource_owner_key=token,
                           resource_owner_secret=secret, signature_method=method_name)
    url = sim.endpoint + "/api/2.0/" + path
    body = None if form is None else urllib.parse.urlencode(form)
    headers = {} if form is None else {"Content-Type": "application/x-www-form-urlencoded"}
    if sign_body:
        url, headers, body = client.sign(url, http_method=method, body=body, headers=headers)
    else:
        # Sign as MAAS verifies a PUT: without its body.
        url, signed, _ = client.sign(url, http_method=method)
        headers.update(signed)
    req = urllib.request.Request(url, data=None if body is None else body.encode(),
                                 method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def test_hmac_sha1_get_and_post(sim):
    status, _, body = call(sim, "GET", "machines/?op=list_allocated")
    assert status == 200, body
    status, _, body = call(sim, "POST", "zones/", [("name", "oauthlib-zone"), ("description", "by oauthlib")])
    assert status == 200, body
    assert '"name": "oauthlib-zone"' in body
    status, _, body = call(sim, "POST", "machines/?op=allocate", [])
    assert status == 200, body
    assert '"status_name": "Allocated"' in body


def test_hmac_sha1_put_body_is_not_signed_by_maas(sim):
    status, _, body = call(sim, "POST", "machines/?op=allocate", [])
    assert status == 200, body
    system_id = body.split('"system_id": "')[1].split('"')[0]
    # oauthlib signs the PUT body; MAAS does not: 401 with the base string MAAS expected.
    status, headers, body = call(sim, "PUT", f"machines/{system_id}/", [("description", "x")])
    assert status == 401, body
    assert body.startswith(PREFIX + "PUT&http%3A%2F%2F127.0.0.1%3A"), body
    assert "description" not in body
    assert headers["WWW-Authenticate"] == 'OAuth realm="OAuth"'
    # Signed without the body, as MAAS verifies it, the PUT goes through.
    status, _, body = call(sim, "PUT", f"machines/{system_id}/", [("description", "x")], sign_body=False)
    assert status == 200, body
    assert '"description": "x"' in body


def test_hmac_sha1_wrong_secret_and_plaintext(sim):
    consumer, token, secret = sim.admin_key.split(":")
    status, headers, body = call(sim, "GET", "zones/", key=f"{consumer}:{token}:wrong")
    assert status == 401
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert body.startswith(PREFIX + "GET&http%3A%2F%2F127.0.0.1%3A"), body
    assert secret not in body
    # oauthlib's PLAINTEXT works too; a wrong PLAINTEXT secret gets MAAS's text, which echoes
    # the expected signature: the real token secret (as MAAS does; clients must redact it).
    status, _, body = call(sim, "GET", "zones/", method_name=oauth1.SIGNATURE_PLAINTEXT)
    assert status == 200, body
    status, _, body = call(sim, "GET", "zones/", key=f"{consumer}:{token}:wrong",
                           method_name=oauth1.SIGNATURE_PLAINTEXT)
    assert (status, body) == (401, PREFIX + "&" + secret + "'")
