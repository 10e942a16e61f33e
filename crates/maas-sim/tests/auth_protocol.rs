#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! OAuth verification, URL conventions, dispatch and response formats.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;

#[tokio::test]
async fn anonymous_endpoints_and_unsigned_requests() {
    let sim = start(builder().machines(3)).await;
    let anon = Maas::anon(&sim);

    let v = anon.get("version/", &[]).await;
    assert_eq!(v.status, StatusCode::OK);
    assert_eq!(v.content_type(), "application/json; charset=utf-8");
    assert_eq!(v.json()["version"], "3.6.5");
    assert_eq!(v.json()["subversion"], "");
    assert!(
        v.text
            .starts_with("{\"capabilities\": [\"networks-management\", "),
        "{}",
        v.text
    );

    // GET machines/ has an anonymous handler: the unsigned request runs as
    // anonymous and has no matching action.
    let r = anon.get("machines/", &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.text, "Unrecognised signature: method=GET op=None");
    assert_eq!(r.content_type(), "text/plain; charset=utf-8");

    // No anonymous handler: 401 "Forbidden".
    let r = anon.get("zones/", &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.text, "Forbidden");

    // Anonymous is_registered works.
    let r = anon
        .get(
            "machines/",
            &[
                ("op", "is_registered"),
                ("mac_address", "00:11:22:33:44:55"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text, "false");

    let http = http();
    let r = http
        .get(format!("{}/api/version/", sim.endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert_eq!(r.text().await.unwrap(), "2.0");
    let r = http
        .get(format!("{}/api/1.0/machines/", sim.endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
    assert_eq!(
        r.text().await.unwrap(),
        "The 1.0 API is no longer available. Please use API version 2.0."
    );
    sim.shutdown().await;
}

async fn with_header(sim: &maas_sim::RunningSimulator, header: String) -> Resp {
    let http = http();
    let r = http
        .get(format!("{}/api/2.0/zones/", sim.endpoint()))
        .header("Authorization", header)
        .send()
        .await
        .unwrap();
    Resp {
        status: r.status(),
        headers: r.headers().clone(),
        text: r.text().await.unwrap(),
    }
}

#[tokio::test]
async fn oauth_failures_have_maas_bodies() {
    let sim = start(builder()).await;
    let key = sim.admin_api_key().to_string();
    let parts: Vec<&str> = key.split(':').collect();

    // Valid.
    let ok = with_header(&sim, oauth_header(&key, &fresh_nonce(), now_secs())).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);

    // Unknown consumer.
    let bad = format!("nope:{}:{}", parts[1], parts[2]);
    let r = with_header(&sim, oauth_header(&bad, &fresh_nonce(), now_secs())).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.text, "Authorization Error: Invalid API key.");
    assert_eq!(
        r.header("www-authenticate").as_deref(),
        Some("OAuth realm=\"OAuth\"")
    );

    // Unknown token.
    let bad = format!("{}:XYZ:{}", parts[0], parts[2]);
    let r = with_header(&sim, oauth_header(&bad, &fresh_nonce(), now_secs())).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.text, "Authorization Error: 'Invalid access token: XYZ'");

    // Expired timestamp (more than 300 s old).
    let old = now_secs() - 301;
    let r = with_header(&sim, oauth_header(&key, &fresh_nonce(), old)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        r.text.starts_with(&format!(
            "Authorization Error: 'Expired timestamp: given {old} and now "
        )),
        "{}",
        r.text
    );
    assert!(
        r.text
            .ends_with("has a greater difference than threshold 300'"),
        "{}",
        r.text
    );

    // Reused nonce.
    let nonce = fresh_nonce();
    let first = with_header(&sim, oauth_header(&key, &nonce, now_secs())).await;
    assert_eq!(first.status, StatusCode::OK);
    let r = with_header(&sim, oauth_header(&key, &nonce, now_secs())).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.text,
        format!("Authorization Error: 'Nonce already used: {nonce}'")
    );
    // The same nonce is fine for another token.
    let r = with_header(&sim, oauth_header(sim.user_api_key(), &nonce, now_secs())).await;
    assert_eq!(r.status, StatusCode::OK);

    // Bad signature: MAAS's message, which echoes the expected PLAINTEXT
    // base string — the token secret (clients must redact it).
    let wrong = format!("{}:{}:wrongsecret", parts[0], parts[1]);
    let r = with_header(&sim, oauth_header(&wrong, &fresh_nonce(), now_secs())).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.text,
        format!(
            "Authorization Error: 'Invalid signature. Expected signature base string: &{}'",
            parts[2]
        )
    );
    assert_eq!(r.content_type(), "text/html; charset=utf-8");
    assert_eq!(
        r.header("www-authenticate").as_deref(),
        Some("OAuth realm=\"OAuth\"")
    );

    // Not OAuth at all: treated as unsigned.
    let r = with_header(&sim, "Bearer abc".into()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.text, "Forbidden");
    sim.shutdown().await;
}

#[tokio::test]
async fn url_conventions_dispatch_and_formats() {
    let sim = start(builder().machines(2)).await;
    let admin = Maas::admin(&sim);

    // Missing trailing slash.
    let r = admin.get("machines", &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.text, "Unknown API endpoint: /MAAS/api/2.0/machines.");
    assert_eq!(r.content_type(), "text/plain; charset=utf-8");

    // Unknown op.
    let r = admin.post("machines/?op=foo", &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.text, "Unrecognised signature: method=POST op=foo");

    // Method not allowed.
    let r = admin.raw(Method::DELETE, "zones/", &[], &[]).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.header("allow").as_deref(), Some("GET, POST"));
    assert!(r.text.is_empty());

    // Pretty JSON, headers.
    let r = admin.get("zones/", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.content_type(), "application/json; charset=utf-8");
    assert!(r.text.starts_with("[\n    {\n        \""), "{}", r.text);
    assert_eq!(r.header("vary").as_deref(), Some("Authorization"));
    let hash = r.header("x-maas-api-hash").unwrap();
    assert_eq!(hash.len(), 40);
    assert_eq!(hash, maas_sim::api_hash());

    // op in the body, and the op-<name> path form.
    let m = admin.post("machines/", &[("op", "allocate")]).await.ok();
    assert_eq!(m["status_name"], "Allocated");
    let m2 = admin.post("machines/op-allocate", &[]).await.ok();
    assert_eq!(m2["status_name"], "Allocated");
    assert_ne!(m["system_id"], m2["system_id"]);
    let r = admin.post("machines/op-nosuchop", &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Multipart bodies work like urlencoded ones.
    let form = reqwest::multipart::Form::new()
        .text("name", "mp-zone")
        .text("description", "from multipart");
    let r = admin
        .http
        .post(format!("{}zones/", admin.base))
        .header(
            "Authorization",
            oauth_header(sim.admin_api_key(), &fresh_nonce(), now_secs()),
        )
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let z: Value = r.json().await.unwrap();
    assert_eq!(z["description"], "from multipart");
    assert_eq!(z["resource_uri"], "/MAAS/api/2.0/zones/mp-zone/");

    // DELETE returns 204 with an empty body.
    let r = admin.delete("zones/mp-zone/", &[]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.text.is_empty());

    // Boolean parsing.
    let r = admin
        .post(
            &format!("machines/{}/?op=release", sid(&m)),
            &[("erase", "maybe")],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "Django BooleanField accepts anything for release"
    );
    let r = admin
        .post("machines/?op=allocate", &[("dry_run", "maybe")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.text, "Invalid dry_run: Value should be 'true' or 'false'");
    sim.shutdown().await;
}

#[tokio::test]
async fn describe_matches_routes() {
    let sim = start(builder().machines(1)).await;
    let anon = Maas::anon(&sim);
    let r = anon.get("describe/", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.content_type(), "application/json");
    let d = r.json();
    assert_eq!(d["doc"], "MAAS API");
    assert_eq!(d["hash"], maas_sim::api_hash());
    let resources = d["resources"].as_array().unwrap();
    let names: Vec<&str> = resources
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "resources sorted by name");
    for expected in [
        "MachinesHandler",
        "MachineHandler",
        "VmHostHandler",
        "PodsHandler",
        "VersionHandler",
        "InterfaceHandler",
    ] {
        assert!(names.contains(&expected), "{expected} missing");
    }
    let machines = resources
        .iter()
        .find(|r| r["name"] == "MachinesHandler")
        .unwrap();
    assert_eq!(machines["anon"]["name"], "AnonMachinesHandler");
    assert_eq!(machines["auth"]["path"], "/MAAS/api/2.0/machines/");
    let host = sim.addr().to_string();
    assert_eq!(
        machines["auth"]["uri"],
        format!("http://{host}/MAAS/api/2.0/machines/")
    );
    let version = resources
        .iter()
        .find(|r| r["name"] == "VersionHandler")
        .unwrap();
    assert!(version["auth"].is_null());
    let handlers = d["handlers"].as_array().unwrap();
    let anon_count = resources.iter().filter(|r| !r["anon"].is_null()).count();
    let auth_count = resources.iter().filter(|r| !r["auth"].is_null()).count();
    assert_eq!(handlers.len(), anon_count + auth_count);

    // Every described action is routed (no 404 Unknown API endpoint, no
    // 400 Unrecognised signature), and piston naming holds.
    let admin = Maas::admin(&sim);
    let system_id = sim.control().machines()[0].system_id.clone();
    for res in resources {
        for kind in ["auth", "anon"] {
            let h = &res[kind];
            if h.is_null() {
                continue;
            }
            let params: Vec<&str> = h["params"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap())
                .collect();
            let mut path = h["path"]
                .as_str()
                .unwrap()
                .trim_start_matches("/MAAS/api/2.0/")
                .to_string();
            for p in &params {
                let value = if *p == "system_id" {
                    system_id.clone()
                } else {
                    "1".to_string()
                };
                path = path.replace(&format!("{{{p}}}"), &value);
            }
            let actions = h["actions"].as_array().unwrap();
            let action_names: Vec<&str> = actions
                .iter()
                .map(|a| a["name"].as_str().unwrap())
                .collect();
            let mut sorted = action_names.clone();
            sorted.sort();
            assert_eq!(action_names, sorted, "actions of {} sorted", h["name"]);
            for a in actions {
                let method = Method::from_bytes(a["method"].as_str().unwrap().as_bytes()).unwrap();
                let op = a["op"].as_str();
                assert_eq!(a["restful"].as_bool().unwrap(), op.is_none());
                if op.is_none() {
                    let crud = match method.as_str() {
                        "GET" => "read",
                        "POST" => "create",
                        "PUT" => "update",
                        _ => "delete",
                    };
                    assert_eq!(a["name"], crud);
                }
                // Destructive actions are exercised elsewhere; check routing
                // on safe methods only, and for the rest that the route exists.
                let client = if kind == "anon" {
                    Maas::anon(&sim)
                } else {
                    admin.clone()
                };
                let full = match op {
                    Some(op) => format!("{path}?op={op}"),
                    None => path.clone(),
                };
                let r = if method == Method::GET {
                    client.get(&full, &[]).await
                } else {
                    // An unknown op on the same route proves the route exists.
                    client
                        .raw(method.clone(), &format!("{path}?op=zz-not-an-op"), &[], &[])
                        .await
                };
                assert!(
                    !r.text.starts_with("Unknown API endpoint"),
                    "{method} {full}: {}",
                    r.text
                );
                if method == Method::GET {
                    assert!(
                        !r.text.starts_with("Unrecognised signature"),
                        "{method} {full}: {}",
                        r.text
                    );
                } else {
                    assert_eq!(
                        r.text,
                        format!("Unrecognised signature: method={method} op=zz-not-an-op")
                    );
                }
            }
        }
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn multipart_parts_in_base64_are_decoded() {
    // python-libmaas sends every part with Content-Transfer-Encoding: base64.
    let sim = start(builder().machines(2)).await;
    let admin = Maas::admin(&sim);
    let boundary = "XyZ123";
    let part = |name: &str, value: &str| {
        use base64::Engine;
        format!(
            "--{boundary}\r\nContent-Type: text/plain; charset=\"utf-8\"\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{}\r\n",
            base64::engine::general_purpose::STANDARD.encode(value)
        )
    };
    let body = format!(
        "{}{}--{boundary}--\r\n",
        part("cpu_count", "1"),
        part("agent_name", "libmaas")
    );
    let r = admin
        .http
        .post(format!("{}machines/?op=allocate", admin.base))
        .header(
            "Authorization",
            oauth_header(sim.admin_api_key(), &fresh_nonce(), now_secs()),
        )
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary=\"{boundary}\""),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let m: Value = r.json().await.unwrap();
    assert_eq!(
        sim.control()
            .machine(m["system_id"].as_str().unwrap())
            .unwrap()
            .agent_name,
        "libmaas"
    );
    sim.shutdown().await;
}

/// Send `method path` with an HMAC-SHA1 header over `signed` (the query
/// and form fields the signer includes), the query in the URL and `form`
/// as the body (`multipart` or urlencoded).
#[allow(clippy::too_many_arguments)]
async fn hmac_request(
    sim: &maas_sim::RunningSimulator,
    key: &str,
    method: Method,
    path: &str,
    query: &[(&str, &str)],
    form: &[(&str, &str)],
    multipart: bool,
    signed: &[(&str, &str)],
) -> (Resp, String) {
    let url = format!("{}/api/2.0/{path}", sim.endpoint());
    let (header, base) = hmac_header(key, method.as_str(), &url, signed);
    let mut req = http()
        .request(method, &url)
        .query(query)
        .header("Authorization", header);
    if multipart {
        let mut f = reqwest::multipart::Form::new();
        for (k, v) in form {
            f = f.text(k.to_string(), v.to_string());
        }
        req = req.multipart(f);
    } else if !form.is_empty() {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter())
            .finish();
        req = req
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
    }
    let r = req.send().await.unwrap();
    let resp = Resp {
        status: r.status(),
        headers: r.headers().clone(),
        text: r.text().await.unwrap(),
    };
    (resp, base)
}

#[tokio::test]
async fn hmac_sha1_signed_requests_as_maas_verifies_them() {
    let sim = start(builder().machines(3)).await;
    let key = sim.admin_api_key().to_string();

    // GET: query parameters are signed.
    let q = [("op", "list_allocated")];
    let (r, _) = hmac_request(&sim, &key, Method::GET, "machines/", &q, &[], false, &q).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // Leaving them out of the signature is a bad signature, and MAAS's 401
    // shows the base string it expected, query included.
    let (r, base) = hmac_request(&sim, &key, Method::GET, "machines/", &q, &[], false, &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.content_type(), "text/html; charset=utf-8");
    assert_eq!(
        r.header("www-authenticate").as_deref(),
        Some("OAuth realm=\"OAuth\"")
    );
    let prefix = "Authorization Error: 'Invalid signature. Expected signature base string: ";
    let expected = r
        .text
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{}", r.text));
    assert!(
        expected.starts_with("GET&http%3A%2F%2F127.0.0.1%3A"),
        "{expected}"
    );
    assert!(expected.ends_with("%26op%3Dlist_allocated'"), "{expected}");
    assert_ne!(expected.trim_end_matches('\''), base);

    // POST urlencoded: the body is signed (RFC 5849 and piston agree).
    let form = [("name", "hmac-zone")];
    let (r, _) = hmac_request(&sim, &key, Method::POST, "zones/", &[], &form, false, &form).await;
    assert_eq!(r.ok()["name"], "hmac-zone");
    let form = [("name", "hmac-zone-2")];
    let (r, _) = hmac_request(&sim, &key, Method::POST, "zones/", &[], &form, false, &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);

    // POST multipart: piston signs the fields (they are request.POST),
    // RFC 5849 signers leave them out; both are accepted.
    let form = [("name", "hmac-mp-1")];
    let (r, _) = hmac_request(&sim, &key, Method::POST, "zones/", &[], &form, true, &form).await;
    assert_eq!(r.ok()["name"], "hmac-mp-1");
    let form = [("name", "hmac-mp-2")];
    let (r, _) = hmac_request(&sim, &key, Method::POST, "zones/", &[], &form, true, &[]).await;
    assert_eq!(r.ok()["name"], "hmac-mp-2");

    // PUT: piston signs no body (only POST bodies are in request.POST).
    let m = Maas::admin(&sim).allocate(&[]).await;
    let path = format!("machines/{}/", sid(&m));
    let form = [("description", "put-by-hmac")];
    let (r, _) = hmac_request(&sim, &key, Method::PUT, &path, &[], &form, false, &[]).await;
    assert_eq!(r.ok()["description"], "put-by-hmac");
    let (r, _) = hmac_request(&sim, &key, Method::PUT, &path, &[], &form, false, &form).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);

    // A wrong secret: 401 with the expected base string (no secret in it).
    let parts: Vec<&str> = key.split(':').collect();
    let wrong = format!("{}:{}:not-the-secret", parts[0], parts[1]);
    let (r, base) = hmac_request(&sim, &wrong, Method::GET, "zones/", &[], &[], false, &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.text, format!("{prefix}{base}'"));
    assert!(!r.text.contains(parts[2]));

    // The host is the one the client sent (`Host`), as Django sees it.
    let url = format!("{}/api/2.0/zones/", sim.endpoint());
    let (header, _) = hmac_header(
        &key,
        "GET",
        "http://maas.example:5240/MAAS/api/2.0/zones/",
        &[],
    );
    let r = http()
        .get(&url)
        .header("Host", "maas.example:5240")
        .header("Authorization", header)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Behind a proxy: X-Forwarded-Host and X-Forwarded-Proto (MAAS sets
    // USE_X_FORWARDED_HOST and SECURE_PROXY_SSL_HEADER).
    let (header, _) = hmac_header(&key, "GET", "https://maas.proxy/MAAS/api/2.0/zones/", &[]);
    let r = http()
        .get(&url)
        .header("X-Forwarded-Host", "maas.proxy")
        .header("X-Forwarded-Proto", "https")
        .header("Authorization", header)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    sim.shutdown().await;
}
