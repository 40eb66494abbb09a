//! The HTTPS shell, black-box: the real server over real TLS, a client that
//! trusts only its certificate, every route of the access table.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use phivault::config::ConfigLayer;
use phivault::domain::Role;
use phivault::http::access::{Access, ROUTES, RouteMethod};
use phivault::http::{DenialReason, Principal, RouteSet};
use serde_json::Value;

use crate::support::{
    CollectedDenials, Options, TestServer, alg_none_token, assert_problem, binary, request_for,
    wrong_key_token,
};

const ROLES: [Role; 4] = [Role::Ingest, Role::Reader, Role::Auditor, Role::Admin];

/// Limits high enough that looping over every route is never rate limited.
fn generous() -> ConfigLayer {
    ConfigLayer {
        rate_per_ip: Some(10_000),
        rate_per_ip_burst: Some(10_000),
        rate_per_principal: Some(10_000),
        rate_per_principal_burst: Some(10_000),
        ..ConfigLayer::default()
    }
}

#[tokio::test]
async fn public_routes_answer_without_a_token() {
    let server = TestServer::start().await;
    let health = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.json::<Value>().await.unwrap()["status"], "ok");

    let openapi: Value = server
        .client
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(openapi["openapi"], "3.1.0");
    assert!(openapi["components"]["schemas"]["record"].is_object());
    assert_eq!(
        openapi["paths"]["/v1/records"]["post"]["x-phivault-role"],
        "ingest"
    );

    let metrics = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    // Labels carry the route template, never a raw path with an id.
    assert!(
        text.contains(
            "phivault_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains("phivault_http_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_label_route_templates_not_ids() {
    let server = TestServer::start_with(Options {
        flags: generous(),
        ..Options::default()
    })
    .await;
    let token = server.token(Role::Reader, "metrics-check");
    let resp = server
        .client
        .get(server.url("/v1/records/SECRET-ID-4242"))
        .bearer_auth(&token)
        .header("Purpose-Of-Use", "TREAT")
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success() || resp.status() == 404,
        "{}",
        resp.status()
    );
    let text = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("route=\"/v1/records/{id}\""), "{text}");
    assert!(!text.contains("SECRET-ID-4242"));
}

#[tokio::test]
async fn schemas_need_a_token_and_list_every_schema() {
    let server = TestServer::start().await;
    let refused = server
        .client
        .get(server.url("/v1/schemas"))
        .send()
        .await
        .unwrap();
    assert!(
        refused.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_problem(refused, 401).await;

    for role in ROLES {
        let token = server.token(role, "schema-reader");
        let list = server
            .client
            .get(server.url("/v1/schemas"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(list.status(), 200, "{role:?}");
        let list: Value = list.json().await.unwrap();
        let names: Vec<_> = list["schemas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect();
        assert!(names.contains(&"record".to_owned()), "{names:?}");
    }

    let token = server.token(Role::Auditor, "schema-reader");
    let one = server
        .client
        .get(server.url("/v1/schemas/record"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 200);
    assert_eq!(one.headers()["content-type"], "application/schema+json");
    let schema: Value = one.json().await.unwrap();
    assert_eq!(
        schema["$id"],
        "https://phivault.invalid/schemas/record.schema.json"
    );

    let missing = server
        .client
        .get(server.url("/v1/schemas/nope"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_problem(missing, 404).await;
}

#[tokio::test]
async fn every_route_refuses_bad_tokens_and_wrong_roles() {
    let denials = Arc::new(CollectedDenials::default());
    let server = TestServer::start_with(Options {
        flags: generous(),
        denials: Some(denials.clone()),
        ..Options::default()
    })
    .await;
    let mut checked = 0;
    for rule in ROUTES {
        let what = format!("{} {}", rule.method.as_str(), rule.path);
        let allowed: Vec<Role> = match rule.access {
            Access::Public => continue,
            Access::AnyRole => ROLES.to_vec(),
            Access::Only(role) => vec![role],
        };
        let response = request_for(&server, rule).send().await.unwrap();
        assert_problem(response, 401).await;

        for bad in [
            server.expired_token(allowed[0]),
            alg_none_token(allowed[0]),
            wrong_key_token(allowed[0]),
            "not-a-jwt".to_owned(),
        ] {
            let response = request_for(&server, rule)
                .bearer_auth(&bad)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 401, "{what} with {bad}");
            assert!(
                response.headers().contains_key("www-authenticate"),
                "{what}"
            );
            assert_problem(response, 401).await;
        }

        for role in ROLES {
            let token = server.token(role, "loop");
            let response = request_for(&server, rule)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            if allowed.contains(&role) {
                assert!(
                    ![401, 403, 405].contains(&status),
                    "{what} refused {role:?} with {status}"
                );
            } else {
                assert_eq!(status, 403, "{what} let {role:?} through");
                assert_problem(response, 403).await;
            }
        }
        checked += 1;
    }
    assert_eq!(
        checked,
        ROUTES.iter().filter(|r| r.access != Access::Public).count()
    );
    // The audit hook saw the refusals, with the principal on 403s and
    // the route template (never the raw path).
    let seen = denials.0.lock().unwrap();
    assert!(seen.iter().any(|d| d.reason == DenialReason::WrongRole
        && d.route == "/v1/records/{id}"
        && d.actor.as_ref().is_some_and(|a| a.role == Role::Ingest)));
    assert!(
        seen.iter()
            .any(|d| matches!(d.reason, DenialReason::Unauthenticated(_)))
    );
}

#[tokio::test]
async fn head_is_authorised_like_get() {
    let server = TestServer::start().await;
    let response = server
        .client
        .head(server.url("/v1/schemas"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn bodies_are_bounded_and_bad_json_is_a_problem() {
    let server = TestServer::start_with(Options {
        flags: ConfigLayer {
            body_limit_bytes: Some(1024),
            ..generous()
        },
        ..Options::default()
    })
    .await;
    let token = server.token(Role::Ingest, "ingest-1");
    let post = || {
        server
            .client
            .post(server.url("/v1/records"))
            .bearer_auth(&token)
    };

    let big = format!("{{\"PatientName\": \"{}\"}}", "x".repeat(4096));
    let response = post()
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    let doc = assert_problem(response, 413).await;
    assert!(!doc.to_string().contains("xxxx"), "the body is not echoed");

    let response = post()
        .header("content-type", "application/json")
        .body("{\"PatientName\": \"Doe^Jane\"")
        .send()
        .await
        .unwrap();
    let doc = assert_problem(response, 400).await;
    assert!(!doc.to_string().contains("Doe"), "{doc}");

    let response = post()
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_problem(response, 415).await;
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let server = TestServer::start().await;
    let response = server
        .client
        .get(server.url("/v2/nothing"))
        .send()
        .await
        .unwrap();
    assert_problem(response, 404).await;

    let response = server
        .client
        .delete(server.url("/v1/schemas"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "GET, HEAD");
    assert_problem(response, 405).await;

    let response = server
        .client
        .request(reqwest::Method::OPTIONS, server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_problem(response, 405).await;
}

#[tokio::test]
async fn purpose_of_use_is_required_on_phi_routes() {
    let server = TestServer::start_with(Options {
        flags: generous(),
        ..Options::default()
    })
    .await;
    let token = server.token(Role::Reader, "dr-who");
    let get = || {
        server
            .client
            .get(server.url("/v1/records/0b7f6a3e"))
            .bearer_auth(&token)
    };
    let doc = assert_problem(get().send().await.unwrap(), 400).await;
    assert!(doc["detail"].as_str().unwrap().contains("Purpose-Of-Use"));
    let doc = assert_problem(
        get()
            .header("Purpose-Of-Use", "HMARKT")
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    assert!(doc["detail"].as_str().unwrap().contains("TREAT"));
    let ok = get()
        .header("Purpose-Of-Use", "TREAT")
        .send()
        .await
        .unwrap();
    assert_ne!(ok.status(), 400);
}

#[tokio::test]
async fn each_principal_is_rate_limited() {
    let server = TestServer::start_with(Options {
        flags: ConfigLayer {
            rate_per_principal: Some(1),
            rate_per_principal_burst: Some(2),
            rate_per_ip: Some(10_000),
            rate_per_ip_burst: Some(10_000),
            ..ConfigLayer::default()
        },
        ..Options::default()
    })
    .await;
    let busy = server.token(Role::Auditor, "busy");
    let mut limited = None;
    // A bucket of 2 refilling at 1/s cannot absorb 20 back-to-back requests.
    for _ in 0..20 {
        let r = server
            .client
            .get(server.url("/v1/schemas"))
            .bearer_auth(&busy)
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
    }
    let limited = limited.expect("never rate limited");
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    assert_problem(limited, 429).await;
    // Another principal is not affected.
    let calm = server.token(Role::Auditor, "calm");
    let r = server
        .client
        .get(server.url("/v1/schemas"))
        .bearer_auth(&calm)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn each_client_ip_is_rate_limited_before_authentication() {
    let server = TestServer::start_with(Options {
        flags: ConfigLayer {
            rate_per_ip: Some(1),
            rate_per_ip_burst: Some(2),
            ..ConfigLayer::default()
        },
        ..Options::default()
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let r = server
            .client
            .get(server.url("/v1/schemas"))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        statuses.push(status);
        if status == 429 {
            assert!(r.headers().contains_key("retry-after"));
            assert_problem(r, 429).await;
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}

#[tokio::test]
async fn slow_requests_time_out_with_a_problem() {
    async fn slow(_: Principal) -> &'static str {
        tokio::time::sleep(Duration::from_secs(5)).await;
        "late"
    }
    let server = TestServer::start_with(Options {
        flags: ConfigLayer {
            request_timeout: Some("1s".parse().unwrap()),
            ..generous()
        },
        // A fresh route set: the product mounts /v1/audit itself.
        routes: Box::new(|_| {
            RouteSet::new()
                .mount(RouteMethod::Get, "/v1/audit", slow)
                .unwrap()
        }),
        ..Options::default()
    })
    .await;
    let token = server.token(Role::Auditor, "patient-auditor");
    let r = server
        .client
        .get(server.url("/v1/audit"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_problem(r, 408).await;
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests() {
    async fn slowish(_: Principal) -> &'static str {
        tokio::time::sleep(Duration::from_millis(700)).await;
        "finished"
    }
    let server = TestServer::start_with(Options {
        flags: generous(),
        // A fresh route set: the product mounts /v1/audit itself.
        routes: Box::new(|_| {
            RouteSet::new()
                .mount(RouteMethod::Get, "/v1/audit", slowish)
                .and_then(|r| r.get("/healthz", || async { "ok" }))
                .unwrap()
        }),
        ..Options::default()
    })
    .await;
    let token = server.token(Role::Auditor, "drain");
    let request = server
        .client
        .get(server.url("/v1/audit"))
        .bearer_auth(&token)
        .send();
    let in_flight = tokio::spawn(request);
    // Let the request reach the handler, then ask for shutdown.
    let health = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = server.client.clone();
    let url = server.url("/healthz");
    server.stop().await.unwrap();
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "finished");
    // Stopped: nothing accepts connections any more.
    assert!(client.get(url).send().await.is_err());
}

#[tokio::test]
async fn request_ids_are_generated_by_the_server() {
    let server = TestServer::start().await;
    let r = server
        .client
        .get(server.url("/healthz"))
        .header("x-request-id", "PATIENT-Doe-Jane")
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(id, "PATIENT-Doe-Jane");
    assert_eq!(id.len(), 36, "a UUID: {id}");
}

/// Reads the child's stderr lines on a thread, so the pipe never fills.
fn stderr_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[tokio::test]
async fn the_binary_prepares_the_data_dir_serves_and_accepts_its_own_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("phivault-data");
    let mut child = Command::new(binary())
        .arg("--data-dir")
        .arg(&data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = stderr_lines(&mut child);
    let mut seen = Vec::new();
    let addr = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no listening line; stderr so far: {seen:#?}"));
        seen.push(line.clone());
        if let Some(url) = line.strip_prefix("phivault: listening on https://") {
            break url.to_owned();
        }
    };
    let cert = data.join("tls/cert.pem");
    let stderr = seen.join("\n");
    assert!(stderr.contains(&cert.display().to_string()), "{stderr}");
    assert!(
        stderr.contains("token issue --role admin --sub you"),
        "{stderr}"
    );
    for file in ["keys/jwt.secret", "tls/cert.pem", "tls/key.pem"] {
        let mode = std::fs::metadata(data.join(file))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
    for dir in ["", "keys", "tls"] {
        let mode = std::fs::metadata(data.join(dir))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700, "{dir:?}");
    }

    let out = Command::new(binary())
        .arg("--data-dir")
        .arg(&data)
        .args([
            "token", "issue", "--role", "auditor", "--sub", "ci", "--ttl", "5m",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "only the token on stdout");
    let token = stdout.trim();

    // The certificate names localhost: resolve it to the bound address, and
    // trust only that certificate.
    phivault::http::install_crypto_provider();
    let port = addr.rsplit(':').next().unwrap();
    let url = format!("https://localhost:{port}/v1/schemas");
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap()])
        .resolve("localhost", addr.parse().unwrap())
        .build()
        .unwrap();
    let ok = client.get(&url).bearer_auth(token).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let refused = client
        .get(format!("https://localhost:{port}/v1/audit"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    // The lead has not mounted /v1/audit yet (404), or it is mounted and the
    // auditor is allowed: never 401/403 for a valid auditor token.
    assert!(![401, 403].contains(&refused.status().as_u16()));

    // A second start reuses the files.
    let secret_before = std::fs::read(data.join("keys/jwt.secret")).unwrap();
    drop(client);

    // SIGTERM: graceful stop, exit 0.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Wait off the runtime, so our HTTP/2 connection can still answer the
    // server's GOAWAY while it drains.
    let (exit, _child) = tokio::task::spawn_blocking(move || (child.wait().unwrap(), child))
        .await
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    // The reader thread ends at EOF, once the child has exited.
    let rest: Vec<String> = lines.iter().collect();
    assert!(
        rest.iter().any(|l| l.contains("phivault: stopped")),
        "{rest:#?}"
    );

    let out = Command::new(binary())
        .arg("--data-dir")
        .arg(&data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut second = out;
    let lines = stderr_lines(&mut second);
    let mut seen = Vec::new();
    loop {
        let line = lines.recv_timeout(Duration::from_secs(60)).unwrap();
        if line.starts_with("phivault: listening on") {
            break;
        }
        seen.push(line);
    }
    assert!(!seen.iter().any(|l| l.contains("created")), "{seen:#?}");
    assert_eq!(
        std::fs::read(data.join("keys/jwt.secret")).unwrap(),
        secret_before
    );
    Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .unwrap();
    assert!(second.wait().unwrap().success());
}

#[test]
fn token_issue_refuses_without_a_secret_and_with_bad_roles() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(binary())
        .arg("--data-dir")
        .arg(tmp.path())
        .args(["token", "issue", "--role", "admin", "--sub", "you"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("jwt.secret"), "{err}");
    let out = Command::new(binary())
        .arg("--data-dir")
        .arg(tmp.path())
        .args(["token", "issue", "--role", "root", "--sub", "you"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn serve_help_documents_every_setting_in_all_three_spellings() {
    let out = Command::new(binary())
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for key in ConfigLayer::KEYS {
        assert!(help.contains(&format!("[toml: {key}]")), "{key}");
        assert!(
            help.contains(&format!("PHIVAULT_{}", key.to_ascii_uppercase())),
            "{key}"
        );
        assert!(
            help.contains(&format!("--{}", key.replace('_', "-"))),
            "{key}"
        );
    }
}

#[tokio::test]
async fn plain_http_only_with_the_flag_and_a_loud_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("phivault-data");
    let mut child = Command::new(binary())
        .arg("--data-dir")
        .arg(&data)
        .args(["serve", "--listen", "127.0.0.1:0", "--insecure-http"])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = stderr_lines(&mut child);
    let mut seen = Vec::new();
    let addr = loop {
        let line = lines.recv_timeout(Duration::from_secs(60)).unwrap();
        seen.push(line.clone());
        if let Some(addr) = line.strip_prefix("phivault: listening on http://") {
            break addr.to_owned();
        }
    };
    assert!(
        seen.iter()
            .any(|l| l.contains("WARN") && l.contains("PLAIN HTTP")),
        "{seen:#?}"
    );
    assert!(
        !data.join("tls").exists(),
        "no certificate is made for plain HTTP"
    );
    phivault::http::install_crypto_provider();
    let client = reqwest::Client::new();
    let r = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(client);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success());
}
