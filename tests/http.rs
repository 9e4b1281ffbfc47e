//! HTTP tests: the real router (`userdeck::server::http::router`), driven one
//! request at a time with `tower::ServiceExt::oneshot`, on every database of
//! `common::databases()`. They check what an API user sees: status, error
//! code, a message that says how to fix the request, and that a rejected
//! request changed nothing.
#![cfg(feature = "ssr")]

mod common;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use chrono::{DateTime, Utc};
use common::TestDb;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::{BTreeMap, HashSet};
use std::time::Instant;
use tower::ServiceExt;
use userdeck::model::attribute::AttrValue;
use userdeck::server::http::{router, REST_BODY_LIMIT};
use userdeck::server::store::bulk::{NewAttribute, NewUser};
use userdeck::server::store::workspace::Workspace;
use userdeck::server::store::Store;
use userdeck::server::{AppState, Settings};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// The router of one fresh database, and its workspace keys.
struct Api {
    db: &'static str,
    app: Router,
    ws: Workspace,
    store: Store,
    keys: std::sync::Arc<userdeck::server::keycache::KeyCache>,
}

/// An answer, read whole.
struct Resp {
    db: &'static str,
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    json: Value,
}

const JSON: &str = "application/json";
/// What sdk.js sends, to stay a CORS simple request.
const TEXT_PLAIN: &str = "text/plain;charset=UTF-8";

impl Api {
    async fn new(db: &TestDb) -> Api {
        Api::with_settings(db, Settings::default()).await
    }

    async fn with_settings(db: &TestDb, settings: Settings) -> Api {
        let ws = db
            .store
            .default_workspace()
            .await
            .expect("default workspace");
        let state = AppState::new(db.store.clone(), &settings);
        let keys = state.keys.clone();
        Api {
            db: db.name,
            app: router(state),
            ws,
            store: db.store.clone(),
            keys,
        }
    }

    /// Switches identify verification as an operator would, and makes the
    /// server see it at once (it remembers keys for a few seconds).
    async fn set_identify_verification(&self, on: bool) {
        self.store
            .set_identify_verification(self.ws.id, on)
            .await
            .expect("switch identify verification");
        self.keys.clear();
    }

    async fn send(&self, req: Request<Body>) -> Resp {
        let res = self
            .app
            .clone()
            .oneshot(req)
            .await
            .expect("the router answers every request");
        let status = res.status();
        let headers = res.headers().clone();
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .expect("read the body");
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Resp {
            db: self.db,
            status,
            headers,
            body,
            json,
        }
    }

    /// A REST request carrying the secret key.
    fn rest(&self, method: Method, path: &str) -> axum::http::request::Builder {
        Request::builder().method(method).uri(path).header(
            header::AUTHORIZATION,
            format!("Bearer {}", self.ws.secret_key),
        )
    }

    async fn get(&self, path: &str) -> Resp {
        self.send(self.rest(Method::GET, path).body(Body::empty()).unwrap())
            .await
    }

    async fn delete(&self, path: &str) -> Resp {
        self.send(self.rest(Method::DELETE, path).body(Body::empty()).unwrap())
            .await
    }

    async fn post(&self, path: &str, body: &Value) -> Resp {
        self.post_raw(path, body.to_string()).await
    }

    async fn post_raw(&self, path: &str, body: impl Into<Body>) -> Resp {
        let req = self
            .rest(Method::POST, path)
            .header(header::CONTENT_TYPE, JSON)
            .body(body.into())
            .unwrap();
        self.send(req).await
    }

    async fn put(&self, path: &str, body: &Value) -> Resp {
        let req = self
            .rest(Method::PUT, path)
            .header(header::CONTENT_TYPE, JSON)
            .body(Body::from(body.to_string()))
            .unwrap();
        self.send(req).await
    }

    async fn identify(&self, body: Value) -> Resp {
        self.post("/api/v1/identify", &body).await
    }

    /// `POST /api/v1/identify` that must succeed; answers the User.
    async fn identify_ok(&self, body: Value) -> Value {
        let what = format!("identify {body}");
        self.identify(body).await.expect(StatusCode::OK, &what).json
    }

    async fn user(&self, user_id: &str) -> Resp {
        self.get(&format!("/api/v1/users/{}", encode(user_id)))
            .await
    }

    /// The user, which must exist.
    async fn user_ok(&self, user_id: &str) -> Value {
        self.user(user_id)
            .await
            .expect(StatusCode::OK, &format!("GET user {user_id:?}"))
            .json
    }

    async fn list(&self, query: &str) -> Resp {
        self.get(&format!("/api/v1/users?{query}")).await
    }

    /// Every user, paging through the list in `created` order.
    async fn all_users(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = self
                .list(&format!(
                    "sort=created&limit=500&cursor={}",
                    encode(&cursor)
                ))
                .await
                .expect(StatusCode::OK, "list users")
                .json;
            out.extend(page["users"].as_array().expect("users").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = c.to_string(),
                None => return out,
            }
        }
    }

    async fn total(&self) -> i64 {
        self.list("limit=1")
            .await
            .expect(StatusCode::OK, "list users")
            .json["total"]
            .as_i64()
            .expect("total")
    }

    /// `GET /api/v1/attributes`, by name.
    async fn definitions(&self) -> BTreeMap<String, Value> {
        let res = self
            .get("/api/v1/attributes")
            .await
            .expect(StatusCode::OK, "GET /api/v1/attributes");
        res.json["attributes"]
            .as_array()
            .expect("attributes")
            .iter()
            .map(|d| (d["name"].as_str().expect("name").to_string(), d.clone()))
            .collect()
    }

    /// Users of attribute `name` per `GET /api/v1/attributes` (0 when not listed).
    async fn def_users(&self, name: &str) -> i64 {
        self.definitions()
            .await
            .get(name)
            .map_or(0, |d| d["users"].as_i64().expect("users"))
    }

    /// Everything an API user can read: all users and all definitions.
    async fn snapshot(&self) -> Value {
        json!({"users": self.all_users().await, "attributes": self.definitions().await})
    }

    /// Asserts nothing readable changed since `before`.
    async fn assert_unchanged(&self, before: &Value, what: &str) {
        let after = self.snapshot().await;
        assert_eq!(
            &after, before,
            "[{}] {what} changed data although it was rejected",
            self.db
        );
    }

    /// An SDK call as sdk.js makes it: text/plain JSON with `key` and `jimer_id`.
    async fn sdk(&self, endpoint: &str, jimer_id: &str, extra: Value) -> Resp {
        let mut body = json!({"key": self.ws.sdk_key, "jimer_id": jimer_id});
        for (k, v) in extra.as_object().expect("extra members").clone() {
            body[k] = v;
        }
        self.sdk_raw(endpoint, Some(TEXT_PLAIN), body.to_string())
            .await
    }

    async fn sdk_raw(
        &self,
        endpoint: &str,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> Resp {
        let mut req = Request::builder().method(Method::POST).uri(endpoint);
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        self.send(req.body(body.into()).unwrap()).await
    }

    async fn visit(&self, jimer_id: &str) -> Value {
        self.sdk("/sdk/v1/visit", jimer_id, json!({}))
            .await
            .expect(StatusCode::OK, "SDK visit")
            .json
    }

    /// `/sdk/v1/me` that must succeed.
    async fn me(&self, jimer_id: &str) -> Value {
        self.sdk("/sdk/v1/me", jimer_id, json!({}))
            .await
            .expect(StatusCode::OK, "SDK me")
            .json
    }

    /// The profile with this jimer id, through the REST search (exact jimer id).
    async fn by_jimer(&self, jimer_id: &str) -> Option<Value> {
        let page = self
            .list(&format!("q={}", encode(jimer_id)))
            .await
            .expect(StatusCode::OK, "search by jimer id")
            .json;
        let users = page["users"].as_array().expect("users");
        assert!(
            users.len() <= 1,
            "[{}] jimer id {jimer_id} matched {} users",
            self.db,
            users.len()
        );
        users.first().cloned()
    }

    /// Inserts users as an integration sync does (`store.insert_users`).
    async fn insert(&self, users: &[NewUser]) {
        self.store
            .insert_users(self.ws.id, users)
            .await
            .expect("insert users");
    }
}

impl Resp {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    #[track_caller]
    fn expect(self, status: StatusCode, what: &str) -> Resp {
        assert_eq!(
            self.status,
            status,
            "[{}] {what}: answered {}",
            self.db,
            self.text()
        );
        self
    }

    /// Asserts the API error shape: status, `error.code`, a non-empty message.
    #[track_caller]
    fn expect_error(self, status: StatusCode, code: &str, what: &str) -> Resp {
        assert_eq!(
            self.status,
            status,
            "[{}] {what}: answered {}",
            self.db,
            self.text()
        );
        assert_eq!(
            self.json["error"]["code"],
            json!(code),
            "[{}] {what}: answered {}",
            self.db,
            self.text()
        );
        assert!(
            !self.message().is_empty(),
            "[{}] {what}: empty error message",
            self.db
        );
        let ct = self.header(header::CONTENT_TYPE).unwrap_or_default();
        assert!(
            ct.starts_with(JSON),
            "[{}] {what}: error with content type {ct:?}",
            self.db
        );
        self
    }

    fn message(&self) -> String {
        self.json["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Asserts the error message mentions `needle` (how to fix the request).
    #[track_caller]
    fn mentions(self, needle: &str) -> Resp {
        assert!(
            self.message().contains(needle),
            "[{}] message {:?} should mention {needle:?}",
            self.db,
            self.message()
        );
        self
    }

    fn header(&self, name: header::HeaderName) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ASCII header").to_string())
    }
}

/// Percent-encodes a path segment or query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The attribute `name` of a User, if it has it.
fn attr<'a>(user: &'a Value, name: &str) -> Option<&'a Value> {
    user["attributes"]
        .as_array()
        .expect("attributes")
        .iter()
        .find(|a| a["name"] == name)
}

/// The value of attribute `name` of a User (`Null` when absent).
fn value(user: &Value, name: &str) -> Value {
    attr(user, name).map_or(Value::Null, |a| a["value"].clone())
}

fn attr_names(user: &Value) -> Vec<String> {
    let mut names: Vec<String> = user["attributes"]
        .as_array()
        .expect("attributes")
        .iter()
        .map(|a| a["name"].as_str().expect("name").to_string())
        .collect();
    names.sort();
    names
}

fn date(v: &Value) -> DateTime<Utc> {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{v} is not a date string"));
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s:?} is not RFC 3339: {e}"))
        .with_timezone(&Utc)
}

fn user_hash(secret: &str, user_id: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(user_id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// A profile for `store.insert_users`, with nothing but its ids set.
fn new_user(jimer_id: &str, user_id: Option<&str>) -> NewUser {
    NewUser {
        jimer_id: jimer_id.to_string(),
        user_id: user_id.map(str::to_string),
        name: None,
        email: None,
        language: None,
        first_seen: None,
        last_activity: None,
        sessions: 0,
        created: now_ms(),
        tags: Vec::new(),
        attributes: Vec::new(),
    }
}

// ---------------------------------------------------------------------------
// Health
// ---------------------------------------------------------------------------

#[tokio::test]
async fn healthz_answers_without_a_key() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        let res = api
            .send(Request::get("/healthz").body(Body::empty()).unwrap())
            .await;
        let body = res.expect(StatusCode::OK, "GET /healthz").json;
        let index = if db.store.index.is_some() {
            "ready"
        } else {
            "off"
        };
        assert_eq!(
            body,
            json!({"status": "ok", "segment_index": index}),
            "[{}]",
            db.name
        );
    }
}

// ---------------------------------------------------------------------------
// REST identify
// ---------------------------------------------------------------------------

#[tokio::test]
async fn identify_creates_then_updates_a_user() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        let created = api
            .identify_ok(json!({"user_id": "user-1", "attributes": {"plan": "Pro"}}))
            .await;
        assert_eq!(created["user_id"], "user-1", "[{}]", db.name);
        assert_eq!(value(&created, "plan"), "Pro", "[{}]", db.name);
        let jimer = created["jimer_id"].as_str().expect("jimer_id").to_string();
        assert!(jimer.starts_with("j_"), "[{}] jimer id {jimer}", db.name);

        let updated = api
            .identify_ok(json!({"user_id": "user-1", "attributes": {"plan": "Team", "seats": 4}}))
            .await;
        assert_eq!(
            updated["jimer_id"],
            json!(jimer),
            "[{}] the same profile",
            db.name
        );
        assert_eq!(value(&updated, "plan"), "Team", "[{}]", db.name);
        assert_eq!(value(&updated, "seats"), 4, "[{}]", db.name);
        assert_eq!(
            api.total().await,
            1,
            "[{}] identify of a known user_id creates no second user",
            db.name
        );
        assert_eq!(
            api.user_ok("user-1").await,
            updated,
            "[{}] GET shows what identify answered",
            db.name
        );

        // A numeric user_id is taken as its decimal text.
        let numeric = api.identify_ok(json!({"user_id": 42})).await;
        assert_eq!(numeric["user_id"], "42", "[{}]", db.name);
        api.user_ok("42").await;
    }
}

#[tokio::test]
async fn identify_sets_and_clears_native_fields() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        let u = api
            .identify_ok(json!({"user_id": "u1", "name": " Sam Taylor ", "email": "sam@example.com", "language": "pt_br"}))
            .await;
        assert_eq!(u["name"], "Sam Taylor", "[{}] name is trimmed", db.name);
        assert_eq!(u["email"], "sam@example.com", "[{}]", db.name);
        assert_eq!(
            u["language"], "pt-BR",
            "[{}] language is normalized",
            db.name
        );
        assert!(
            u["attributes"].as_array().unwrap().is_empty(),
            "[{}] native fields are not attributes",
            db.name
        );

        // Absent members are kept.
        let u = api
            .identify_ok(json!({"user_id": "u1", "email": "sam@new.example"}))
            .await;
        assert_eq!(u["name"], "Sam Taylor", "[{}]", db.name);
        assert_eq!(u["email"], "sam@new.example", "[{}]", db.name);
        assert_eq!(u["language"], "pt-BR", "[{}]", db.name);

        // null clears.
        let u = api
            .identify_ok(json!({"user_id": "u1", "name": null, "email": null, "language": null}))
            .await;
        for field in ["name", "email", "language"] {
            assert_eq!(
                u[field],
                Value::Null,
                "[{}] {field} cleared by null",
                db.name
            );
        }
        let stored = api.user_ok("u1").await;
        for field in ["name", "email", "language"] {
            assert_eq!(
                stored[field],
                Value::Null,
                "[{}] {field} stays cleared",
                db.name
            );
        }
    }
}

#[tokio::test]
async fn identify_infers_attribute_types() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        let u = api
            .identify_ok(json!({"user_id": "u1", "attributes": {
                "plan": "Pro",
                "seats": 3,
                "ratio": 0.25,
                "beta": true,
                "trial_end": "2024-06-15",
                "signed_up": "2024-06-15T10:00:00+02:00",
                "local_time": "2024-06-15T10:00:00",
                "not_a_date": "2024-13-45",
                "roles": ["admin", 1, true],
                "address.city": "Paris",
            }}))
            .await;
        let expect = [
            ("plan", "string", json!("Pro")),
            ("seats", "number", json!(3)),
            ("ratio", "number", json!(0.25)),
            ("beta", "boolean", json!(true)),
            ("trial_end", "date", json!("2024-06-15T00:00:00Z")),
            ("signed_up", "date", json!("2024-06-15T08:00:00Z")),
            ("local_time", "date", json!("2024-06-15T10:00:00Z")),
            ("not_a_date", "string", json!("2024-13-45")),
            ("roles", "array", json!(["admin", "1", "true"])),
            ("address.city", "string", json!("Paris")),
        ];
        let stored = api.user_ok("u1").await;
        let defs = api.definitions().await;
        for (name, t, v) in expect {
            for (which, user) in [("identify answer", &u), ("GET", &stored)] {
                let a = attr(user, name)
                    .unwrap_or_else(|| panic!("[{}] {which}: no attribute {name}", db.name));
                assert_eq!(a["type"], t, "[{}] {which}: type of {name}", db.name);
                assert_eq!(a["value"], v, "[{}] {which}: value of {name}", db.name);
                assert_eq!(
                    a["source"], "custom",
                    "[{}] {which}: source of {name}",
                    db.name
                );
                date(&a["updated_at"]);
            }
            assert_eq!(
                defs[name]["type"], t,
                "[{}] definition type of {name}",
                db.name
            );
        }
    }
}

#[tokio::test]
async fn identify_converts_values_only_without_loss() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        api.identify_ok(json!({"user_id": "u1", "attributes": {"seats": 3, "code": "abc", "label": "x", "enabled": true, "renewal": "2024-06-15"}}))
            .await;

        // "42" to a number key becomes the number 42.
        let u = api
            .identify_ok(json!({"user_id": "u2", "attributes": {"seats": "42"}}))
            .await;
        assert_eq!(
            attr(&u, "seats").unwrap()["type"],
            "number",
            "[{}]",
            db.name
        );
        assert_eq!(
            value(&u, "seats"),
            42,
            "[{}] \"42\" stored as a number",
            db.name
        );

        // A date-looking string to a string key keeps its text exactly.
        let u = api.identify_ok(json!({"user_id": "u2", "attributes": {"code": "2024-06-15", "label": 7, "enabled": "TRUE"}})).await;
        assert_eq!(attr(&u, "code").unwrap()["type"], "string", "[{}]", db.name);
        assert_eq!(
            value(&u, "code"),
            "2024-06-15",
            "[{}] date-looking text kept as sent",
            db.name
        );
        assert_eq!(
            value(&u, "label"),
            "7",
            "[{}] number to a string key",
            db.name
        );
        assert_eq!(
            value(&u, "enabled"),
            true,
            "[{}] \"TRUE\" to a boolean key",
            db.name
        );
        assert_eq!(
            api.user_ok("u2").await,
            u,
            "[{}] GET shows the converted values",
            db.name
        );

        // Lossy conversions are refused with 409 and change nothing.
        let before = api.snapshot().await;
        for (name, v, t) in [
            ("seats", json!("many"), "number"),
            ("renewal", json!("soon"), "date"),
            ("renewal", json!(5), "date"),
            ("enabled", json!("maybe"), "boolean"),
            ("code", json!(["a", "b"]), "string"),
        ] {
            let what = format!("{name} = {v} to a {t} key");
            api.identify(json!({"user_id": "u1", "attributes": {name: v}}))
                .await
                .expect_error(StatusCode::CONFLICT, "type_conflict", &what)
                .mentions(&format!("{t} attribute"))
                .mentions(name);
        }
        api.assert_unchanged(&before, "type conflicts").await;
        assert_eq!(
            api.definitions().await["seats"]["type"],
            "number",
            "[{}] key types never change",
            db.name
        );
    }
}

#[tokio::test]
async fn identify_null_removes_an_attribute() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        api.identify_ok(json!({"user_id": "u1", "attributes": {"plan": "Pro", "seats": 3}}))
            .await;
        api.identify_ok(json!({"user_id": "u2", "attributes": {"plan": "Team"}}))
            .await;
        assert_eq!(api.def_users("plan").await, 2, "[{}]", db.name);

        let u = api
            .identify_ok(json!({"user_id": "u1", "attributes": {"plan": null, "never_set": null}}))
            .await;
        assert_eq!(
            attr_names(&u),
            ["seats"],
            "[{}] null removes, absent names stay",
            db.name
        );
        assert_eq!(
            attr_names(&api.user_ok("u1").await),
            ["seats"],
            "[{}]",
            db.name
        );
        assert_eq!(
            value(&api.user_ok("u2").await, "plan"),
            "Team",
            "[{}] other users keep theirs",
            db.name
        );
        assert_eq!(
            api.def_users("plan").await,
            1,
            "[{}] definition count drops",
            db.name
        );
        assert_eq!(api.def_users("never_set").await, 0, "[{}]", db.name);
    }
}

#[tokio::test]
async fn remove_unspecified_removes_only_unnamed_custom_attributes() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        let mut synced = new_user("j_hubspotuser01", Some("u-rs"));
        synced.name = Some("Rita".into());
        synced.attributes.push(NewAttribute {
            name: "crm_stage".into(),
            value: AttrValue::String("lead".into()),
            source: "hubspot",
            updated_at: now_ms() - 60_000,
        });
        api.insert(&[synced]).await;
        api.identify_ok(json!({"user_id": "u-rs", "email": "rita@example.com",
            "attributes": {"plan": "Pro", "seats": 3, "beta": true}}))
            .await;
        api.identify_ok(json!({"user_id": "other", "attributes": {"seats": 9}}))
            .await;

        let u = api.identify_ok(json!({"user_id": "u-rs", "attributes": {"plan": "Team"}, "remove_unspecified": true})).await;
        assert_eq!(
            attr_names(&u),
            ["crm_stage", "plan"],
            "[{}] unnamed custom attributes removed",
            db.name
        );
        assert_eq!(value(&u, "plan"), "Team", "[{}]", db.name);
        let crm = attr(&u, "crm_stage").unwrap();
        assert_eq!(crm["value"], "lead", "[{}] integration value kept", db.name);
        assert_eq!(
            crm["source"], "hubspot",
            "[{}] integration source kept",
            db.name
        );
        assert_eq!(u["name"], "Rita", "[{}] native fields untouched", db.name);
        assert_eq!(
            u["email"], "rita@example.com",
            "[{}] native fields untouched",
            db.name
        );
        assert_eq!(api.user_ok("u-rs").await, u, "[{}]", db.name);
        assert_eq!(
            value(&api.user_ok("other").await, "seats"),
            9,
            "[{}] other users untouched",
            db.name
        );
        assert_eq!(api.def_users("seats").await, 1, "[{}]", db.name);
        assert_eq!(api.def_users("beta").await, 0, "[{}]", db.name);
        assert_eq!(api.def_users("crm_stage").await, 1, "[{}]", db.name);

        // Without attributes at all: every custom attribute goes, synced ones stay.
        let u = api
            .identify_ok(json!({"user_id": "u-rs", "remove_unspecified": true}))
            .await;
        assert_eq!(attr_names(&u), ["crm_stage"], "[{}]", db.name);
    }
}

#[tokio::test]
async fn values_hold_at_most_700_characters() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        let u = api
            .identify_ok(json!({"user_id": "u1", "attributes": {
                "bio": "x".repeat(700),
                "accented": "é".repeat(700),
                "list": ["y".repeat(696)],
            }}))
            .await;
        assert_eq!(value(&u, "bio"), json!("x".repeat(700)), "[{}]", db.name);
        assert_eq!(
            value(&api.user_ok("u1").await, "accented"),
            json!("é".repeat(700)),
            "[{}] characters, not bytes",
            db.name
        );

        let before = api.snapshot().await;
        for (name, v) in [
            ("bio", json!("x".repeat(701))),
            ("fresh", json!("z".repeat(701))),
            ("list", json!(["y".repeat(697)])),
        ] {
            api.identify(json!({"user_id": "u1", "attributes": {name: v}}))
                .await
                .expect_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "value_too_long",
                    &format!("701 characters in {name}"),
                )
                .mentions("700");
        }
        api.identify(json!({"user_id": "u-new", "attributes": {"bio": "x".repeat(701)}}))
            .await
            .expect_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "value_too_long",
                "701 characters for a new user",
            );
        api.assert_unchanged(&before, "values over 700 characters")
            .await;
    }
}

#[tokio::test]
async fn identify_names_at_most_200_attributes() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        let attrs =
            |n: usize| Value::Object((0..n).map(|i| (format!("a{i:03}"), json!(i))).collect());
        let u = api
            .identify_ok(json!({"user_id": "u1", "attributes": attrs(200)}))
            .await;
        assert_eq!(
            u["attributes"].as_array().unwrap().len(),
            200,
            "[{}]",
            db.name
        );
        let before = api.snapshot().await;
        api.identify(json!({"user_id": "u1", "attributes": attrs(201)}))
            .await
            .expect_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "too_many_attributes",
                "201 attributes",
            )
            .mentions("200");
        api.assert_unchanged(&before, "201 attributes").await;
    }
}

#[tokio::test]
async fn identify_rejects_invalid_content_with_422() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        api.identify_ok(json!({"user_id": "u1", "name": "Sam", "attributes": {"plan": "Pro"}}))
            .await;
        let before = api.snapshot().await;
        let cases: Vec<(Value, &str, &str)> = vec![
            (
                json!({"user_id": "u1", "attributes": {"address": {"city": "Paris"}}}),
                "invalid_attribute_value",
                "address.city",
            ),
            (
                json!({"user_id": "u1", "attributes": {"list": [["nested"]]}}),
                "invalid_attribute_value",
                "arrays hold strings",
            ),
            (
                json!({"user_id": "u1", "attributes": {"has space": 1}}),
                "invalid_attribute_name",
                "has space",
            ),
            (
                json!({"user_id": "u1", "attributes": {"": 1}}),
                "invalid_attribute_name",
                "empty",
            ),
            (
                json!({"user_id": "u1", "attributes": {".lead": 1}}),
                "invalid_attribute_name",
                "starting with",
            ),
            (
                json!({"user_id": "u1", "attributes": {"é": 1}}),
                "invalid_attribute_name",
                "ASCII",
            ),
            (
                json!({"user_id": "u1", "attributes": {"x".repeat(65): 1}}),
                "invalid_attribute_name",
                "64",
            ),
            (
                json!({"user_id": "u1", "attributes": {"email": "a@b.c"}}),
                "reserved_attribute_name",
                "top-level",
            ),
            (
                json!({"user_id": "u1", "attributes": {"sessions": 3}}),
                "reserved_attribute_name",
                "native field",
            ),
            (
                json!({"user_id": "u1", "attributes": {"user_id": "x"}}),
                "reserved_attribute_name",
                "native field",
            ),
            (
                json!({"user_id": "u1", "userId": "x"}),
                "invalid_request",
                "did you mean `user_id`",
            ),
            (
                json!({"user_id": "u1", "traits": {"plan": "x"}}),
                "invalid_request",
                "`attributes`",
            ),
            (
                json!({"user_id": "u1", "removeUnspecified": true}),
                "invalid_request",
                "remove_unspecified",
            ),
            (json!({"name": "No Id"}), "missing_user_id", "user_id"),
            (
                json!({"user_id": null, "name": "No Id"}),
                "missing_user_id",
                "user_id",
            ),
            (json!({"user_id": ""}), "invalid_request", "empty"),
            (json!({"user_id": {"id": 1}}), "invalid_request", "user_id"),
            (
                json!({"user_id": "u1", "email": "not-an-email"}),
                "invalid_request",
                "email",
            ),
            (
                json!({"user_id": "u1", "language": "french!"}),
                "invalid_request",
                "language",
            ),
            (
                json!({"user_id": "u1", "name": 5}),
                "invalid_request",
                "name",
            ),
            (
                json!({"user_id": "u1", "attributes": ["plan"]}),
                "invalid_request",
                "attributes",
            ),
            (
                json!({"user_id": "u1", "remove_unspecified": "yes"}),
                "invalid_request",
                "remove_unspecified",
            ),
            (json!(["user_id", "u1"]), "invalid_request", "JSON object"),
        ];
        for (body, code, hint) in cases {
            api.identify(body.clone())
                .await
                .expect_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    code,
                    &format!("identify {body}"),
                )
                .mentions(hint);
        }
        api.assert_unchanged(&before, "invalid identify bodies")
            .await;
    }
}

#[tokio::test]
async fn a_rejected_identify_stores_nothing_of_it() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        api.identify_ok(
            json!({"user_id": "u1", "name": "Sam", "attributes": {"plan": "Pro", "seats": 3}}),
        )
        .await;
        let before = api.snapshot().await;

        // A new user with one bad value is not created, and its good values
        // fix no attribute type.
        api.identify(
            json!({"user_id": "u-new", "name": "New", "attributes": {"good": 1, "bad": {"x": 1}}}),
        )
        .await
        .expect_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_attribute_value",
            "one object value",
        );
        api.identify(json!({"user_id": "u-new", "attributes": {"fresh": "v", "seats": "lots"}}))
            .await
            .expect_error(
                StatusCode::CONFLICT,
                "type_conflict",
                "one lossy value on a new user",
            );
        api.user("u-new").await.expect_error(
            StatusCode::NOT_FOUND,
            "user_not_found",
            "user of a rejected identify",
        );

        // An existing user keeps every previous value.
        api.identify(json!({"user_id": "u1", "name": "Changed", "email": "x@y.z",
            "attributes": {"plan": "Team", "newkey": "v", "seats": "many"}}))
            .await
            .expect_error(
                StatusCode::CONFLICT,
                "type_conflict",
                "one lossy value on an existing user",
            );
        api.identify(
            json!({"user_id": "u1", "name": "Changed", "remove_unspecified": true,
            "attributes": {"plan": "Team", "bio": "y".repeat(701)}}),
        )
        .await
        .expect_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "value_too_long",
            "one long value on an existing user",
        );
        let u = api.user_ok("u1").await;
        assert_eq!(u["name"], "Sam", "[{}]", db.name);
        assert_eq!(value(&u, "plan"), "Pro", "[{}]", db.name);
        assert_eq!(value(&u, "seats"), 3, "[{}]", db.name);
        let defs = api.definitions().await;
        for name in ["good", "bad", "fresh", "newkey", "bio"] {
            assert!(
                !defs.contains_key(name),
                "[{}] rejected attribute {name} got a definition",
                db.name
            );
        }
        api.assert_unchanged(&before, "rejected identify").await;

        // The names a rejected call used are still free to take any type.
        let u = api
            .identify_ok(json!({"user_id": "u1", "attributes": {"good": "text", "fresh": true}}))
            .await;
        assert_eq!(attr(&u, "good").unwrap()["type"], "string", "[{}]", db.name);
        assert_eq!(
            attr(&u, "fresh").unwrap()["type"],
            "boolean",
            "[{}]",
            db.name
        );
    }
}

// ---------------------------------------------------------------------------
// Malformed requests, keys, missing things, sizes
// ---------------------------------------------------------------------------

#[tokio::test]
async fn malformed_bodies_are_400() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        let before = api.snapshot().await;
        for path in ["/api/v1/identify", "/api/v1/batch"] {
            api.post_raw(path, "{\"user_id\": \"u1\",")
                .await
                .expect_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_json",
                    &format!("malformed JSON to {path}"),
                )
                .mentions("JSON");
            api.post_raw(path, "")
                .await
                .expect_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_json",
                    &format!("empty body to {path}"),
                )
                .mentions("empty");
            api.post_raw(path, vec![0xff, 0xfe, b'{'])
                .await
                .expect_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_json",
                    &format!("binary body to {path}"),
                );
        }
        api.assert_unchanged(&before, "malformed bodies").await;
    }
}

#[tokio::test]
async fn requests_without_a_valid_secret_key_are_401() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        api.identify_ok(json!({"user_id": "u1"})).await;
        let before = api.snapshot().await;
        let body = json!({"user_id": "intruder"}).to_string();
        let sdk_key = api.ws.sdk_key.clone();
        let cases: [(Option<String>, &str, &str); 5] = [
            (None, "Authorization: Bearer", "no Authorization header"),
            (
                Some("Bearer sk_not_a_real_key".into()),
                "userdeck keys",
                "a wrong secret key",
            ),
            (
                Some(format!("Bearer {sdk_key}")),
                "secret key",
                "the SDK key",
            ),
            (
                Some(api.ws.secret_key.clone()),
                "Bearer",
                "the key without Bearer",
            ),
            (Some("Bearer ".into()), "userdeck keys", "an empty key"),
        ];
        for (auth, hint, what) in cases {
            for (method, path) in [
                (Method::POST, "/api/v1/identify"),
                (Method::GET, "/api/v1/users"),
                (Method::GET, "/api/v1/users/u1"),
                (Method::DELETE, "/api/v1/users/u1"),
                (Method::GET, "/api/v1/attributes"),
                (Method::POST, "/api/v1/batch"),
            ] {
                let mut req = Request::builder()
                    .method(method.clone())
                    .uri(path)
                    .header(header::CONTENT_TYPE, JSON);
                if let Some(auth) = &auth {
                    req = req.header(header::AUTHORIZATION, auth);
                }
                let body = if method == Method::POST {
                    Body::from(body.clone())
                } else {
                    Body::empty()
                };
                api.send(req.body(body).unwrap())
                    .await
                    .expect_error(
                        StatusCode::UNAUTHORIZED,
                        "unauthorized",
                        &format!("{method} {path} with {what}"),
                    )
                    .mentions(hint);
            }
        }
        api.assert_unchanged(&before, "unauthorized requests").await;
    }
}

#[tokio::test]
async fn unknown_users_and_endpoints_are_404() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        api.identify_ok(json!({"user_id": "u1"})).await;
        api.user("nobody")
            .await
            .expect_error(StatusCode::NOT_FOUND, "user_not_found", "GET unknown user")
            .mentions("nobody");
        api.delete("/api/v1/users/nobody").await.expect_error(
            StatusCode::NOT_FOUND,
            "user_not_found",
            "DELETE unknown user",
        );
        for path in [
            "/api/v1/nope",
            "/api/v1/users/u1/nope",
            "/api/v1/segments/count/x",
        ] {
            api.get(path).await.expect_error(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("GET {path}"),
            );
        }
        api.post("/api/v1/nope", &json!({})).await.expect_error(
            StatusCode::NOT_FOUND,
            "not_found",
            "POST /api/v1/nope",
        );
        api.sdk("/sdk/v1/nope", "j_visitor00001", json!({}))
            .await
            .expect_error(StatusCode::NOT_FOUND, "not_found", "POST /sdk/v1/nope");
        assert_eq!(api.total().await, 1, "[{}]", db.name);
    }
}

/// API.md: every error is `{"error": {"code", "message"}}`, 405 included.
#[tokio::test]
async fn a_wrong_method_answers_405_with_an_error_body() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        for (method, path) in [
            (Method::GET, "/api/v1/identify"),
            (Method::PUT, "/api/v1/users/u1"),
            (Method::GET, "/api/v1/batch"),
        ] {
            let res = api
                .send(api.rest(method.clone(), path).body(Body::empty()).unwrap())
                .await;
            assert_eq!(
                res.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "[{}] {method} {path}: {}",
                db.name,
                res.text()
            );
            assert!(
                res.json["error"]["code"].is_string() && !res.message().is_empty(),
                "[{}] {method} {path}: 405 without the API error body: {:?}",
                db.name,
                res.text()
            );
        }
    }
}

#[tokio::test]
async fn bodies_over_the_limits_are_413() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        api.identify_ok(json!({"user_id": "u1"})).await;
        let before = api.snapshot().await;

        let huge = json!({"user_id": "big", "name": "x".repeat(REST_BODY_LIMIT)}).to_string();
        assert!(huge.len() > REST_BODY_LIMIT);
        api.post_raw("/api/v1/identify", huge)
            .await
            .expect_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "identify over 8 MiB",
            )
            .mentions("smaller");
        let huge_batch =
            json!({"batch": [{"user_id": "big", "name": "x".repeat(REST_BODY_LIMIT)}]}).to_string();
        api.post_raw("/api/v1/batch", huge_batch)
            .await
            .expect_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "batch over 8 MiB",
            );

        let items: Vec<Value> = (0..1001)
            .map(|i| json!({"user_id": format!("b-{i}")}))
            .collect();
        api.post("/api/v1/batch", &json!({"batch": items}))
            .await
            .expect_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "batch_too_large",
                "batch of 1001 items",
            )
            .mentions("1000");

        // The SDK's own limit (64 KiB).
        let sdk_huge =
            json!({"key": api.ws.sdk_key, "jimer_id": "j_bigvisitor1", "name": "y".repeat(70_000)});
        api.sdk_raw("/sdk/v1/update", Some(TEXT_PLAIN), sdk_huge.to_string())
            .await
            .expect_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "SDK body over 64 KiB",
            );
        api.assert_unchanged(&before, "oversized requests").await;
    }
}

// ---------------------------------------------------------------------------
// Batch
// ---------------------------------------------------------------------------

#[tokio::test]
async fn batch_answers_each_item_in_order_and_applies_only_good_ones() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        let res = api
            .post(
                "/api/v1/batch",
                &json!({"batch": [
                    {"user_id": "b1", "attributes": {"plan": "Pro", "score": 5}},
                    {"name": "no id"},
                    {"user_id": "b2", "attributes": {"score": "high"}},
                    {"user_id": "b3", "attributes": {"address": {"city": "Paris"}}},
                    {"user_id": "b1", "name": "Bee One"},
                    {"user_id": "b4", "attributes": {"score": "7"}},
                    "not an object",
                    {"user_id": "b5", "userId": "b5"},
                    {"user_id": "b6", "attributes": {"bio": "x".repeat(701)}},
                ]}),
            )
            .await
            .expect(StatusCode::OK, "mixed batch");
        let results = res.json["results"].as_array().expect("results");
        let expected = [
            None,
            Some("missing_user_id"),
            Some("type_conflict"),
            Some("invalid_attribute_value"),
            None,
            None,
            Some("invalid_request"),
            Some("invalid_request"),
            Some("value_too_long"),
        ];
        assert_eq!(
            results.len(),
            expected.len(),
            "[{}] one result per item: {}",
            db.name,
            res.text()
        );
        for (i, (got, want)) in results.iter().zip(expected).enumerate() {
            match want {
                None => assert_eq!(got, &json!({"ok": true}), "[{}] item {i}", db.name),
                Some(code) => {
                    assert_eq!(got["error"]["code"], code, "[{}] item {i}: {got}", db.name);
                    assert!(
                        got["error"]["message"]
                            .as_str()
                            .is_some_and(|m| !m.is_empty()),
                        "[{}] item {i}: {got}",
                        db.name
                    );
                }
            }
        }

        let b1 = api.user_ok("b1").await;
        assert_eq!(b1["name"], "Bee One", "[{}] items apply in order", db.name);
        assert_eq!(value(&b1, "plan"), "Pro", "[{}]", db.name);
        assert_eq!(value(&b1, "score"), 5, "[{}]", db.name);
        assert_eq!(
            value(&api.user_ok("b4").await, "score"),
            7,
            "[{}] converted to the type an earlier item fixed",
            db.name
        );
        for missing in ["b2", "b3", "b5", "b6"] {
            api.user(missing).await.expect_error(
                StatusCode::NOT_FOUND,
                "user_not_found",
                &format!("rejected batch item {missing}"),
            );
        }
        assert_eq!(api.total().await, 2, "[{}]", db.name);
        assert_eq!(api.def_users("score").await, 2, "[{}]", db.name);
        assert!(
            !api.definitions().await.contains_key("bio"),
            "[{}]",
            db.name
        );

        // The envelope itself.
        let before = api.snapshot().await;
        for body in [
            json!({}),
            json!({"batch": "x"}),
            json!({"batch": {"user_id": "b9"}}),
            json!([{"user_id": "b9"}]),
        ] {
            api.post("/api/v1/batch", &body)
                .await
                .expect_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_request",
                    &format!("batch body {body}"),
                )
                .mentions("batch");
        }
        let empty = api
            .post("/api/v1/batch", &json!({"batch": []}))
            .await
            .expect(StatusCode::OK, "empty batch");
        assert_eq!(empty.json, json!({"results": []}), "[{}]", db.name);
        api.assert_unchanged(&before, "bad batch envelopes").await;
    }
}

#[tokio::test]
async fn batch_of_1000_items_is_accepted() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        let items: Vec<Value> =
            (0..1000).map(|i| json!({"user_id": format!("bulk-{i:04}"), "attributes": {"n": i, "plan": "Pro"}})).collect();
        let res = api
            .post("/api/v1/batch", &json!({"batch": items}))
            .await
            .expect(StatusCode::OK, "batch of 1000");
        let results = res.json["results"].as_array().expect("results");
        assert_eq!(results.len(), 1000, "[{}]", db.name);
        assert!(
            results.iter().all(|r| r == &json!({"ok": true})),
            "[{}] every item ok",
            db.name
        );
        assert_eq!(api.total().await, 1000, "[{}]", db.name);
        assert_eq!(api.def_users("n").await, 1000, "[{}]", db.name);
        assert_eq!(
            value(&api.user_ok("bulk-0999").await, "n"),
            999,
            "[{}]",
            db.name
        );
    }
}

// ---------------------------------------------------------------------------
// One user: get, delete
// ---------------------------------------------------------------------------

#[tokio::test]
async fn get_user_answers_the_documented_user() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        let start = Utc::now() - chrono::Duration::seconds(2);
        api.identify_ok(json!({"user_id": "user-123456", "name": "Sam Taylor", "email": "sam@example.com", "language": "fr",
            "attributes": {"plan": "Pro"}}))
            .await;
        let u = api.user_ok("user-123456").await;
        let members: HashSet<&str> = u
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        let documented: HashSet<&str> = [
            "jimer_id",
            "user_id",
            "name",
            "email",
            "language",
            "first_seen",
            "last_activity",
            "sessions",
            "created",
            "tags",
            "attributes",
        ]
        .into();
        assert_eq!(members, documented, "[{}] the members of a User", db.name);
        assert_eq!(u["user_id"], "user-123456", "[{}]", db.name);
        assert_eq!(u["name"], "Sam Taylor", "[{}]", db.name);
        assert_eq!(u["email"], "sam@example.com", "[{}]", db.name);
        assert_eq!(u["language"], "fr", "[{}]", db.name);
        assert!(u["sessions"].is_i64(), "[{}]", db.name);
        assert!(u["tags"].is_array(), "[{}]", db.name);
        let created = date(&u["created"]);
        assert!(
            created >= start && created <= Utc::now(),
            "[{}] created {created}",
            db.name
        );
        for field in ["first_seen", "last_activity"] {
            if !u[field].is_null() {
                date(&u[field]);
            }
        }
        let plan = attr(&u, "plan").expect("plan");
        let attr_members: HashSet<&str> = plan
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            attr_members,
            ["name", "value", "type", "source", "updated_at"].into(),
            "[{}]",
            db.name
        );
        assert_eq!(plan["value"], "Pro", "[{}]", db.name);
        assert_eq!(plan["type"], "string", "[{}]", db.name);
        assert_eq!(plan["source"], "custom", "[{}]", db.name);
        let at = date(&plan["updated_at"]);
        assert!(
            at >= start && at <= Utc::now(),
            "[{}] updated_at {at}",
            db.name
        );
    }
}

#[tokio::test]
async fn user_ids_with_special_characters_work_in_paths() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        for id in [
            "user one",
            "a/b",
            "ü-ñ 用户",
            "50%",
            "q?x#y",
            "+plus",
            "dot.ted",
        ] {
            api.identify_ok(json!({"user_id": id, "name": id})).await;
            let u = api.user_ok(id).await;
            assert_eq!(u["user_id"], id, "[{}] GET {id:?}", db.name);
            api.delete(&format!("/api/v1/users/{}", encode(id)))
                .await
                .expect(StatusCode::NO_CONTENT, &format!("DELETE {id:?}"));
            api.user(id).await.expect_error(
                StatusCode::NOT_FOUND,
                "user_not_found",
                &format!("{id:?} after delete"),
            );
        }
    }
}

#[tokio::test]
async fn delete_user_removes_the_user_and_its_attribute_counts() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        api.identify_ok(json!({"user_id": "d1", "attributes": {"plan": "Pro", "seats": 2}}))
            .await;
        api.identify_ok(json!({"user_id": "d2", "attributes": {"plan": "Team"}}))
            .await;
        assert_eq!(api.def_users("plan").await, 2, "[{}]", db.name);
        assert_eq!(api.def_users("seats").await, 1, "[{}]", db.name);

        let res = api
            .delete("/api/v1/users/d1")
            .await
            .expect(StatusCode::NO_CONTENT, "DELETE d1");
        assert!(res.body.is_empty(), "[{}] 204 has no body", db.name);
        api.user("d1").await.expect_error(
            StatusCode::NOT_FOUND,
            "user_not_found",
            "GET after DELETE",
        );
        api.delete("/api/v1/users/d1").await.expect_error(
            StatusCode::NOT_FOUND,
            "user_not_found",
            "second DELETE",
        );
        assert_eq!(api.def_users("plan").await, 1, "[{}] count drops", db.name);
        assert_eq!(api.def_users("seats").await, 0, "[{}] count drops", db.name);
        assert_eq!(
            value(&api.user_ok("d2").await, "plan"),
            "Team",
            "[{}] others untouched",
            db.name
        );
        assert_eq!(api.total().await, 1, "[{}]", db.name);

        // The user id is free again: a new profile.
        let again = api.identify_ok(json!({"user_id": "d1"})).await;
        assert!(
            again["attributes"].as_array().unwrap().is_empty(),
            "[{}] nothing left of the old profile",
            db.name
        );
    }
}

// ---------------------------------------------------------------------------
// Users list
// ---------------------------------------------------------------------------

const PAGED_USERS: usize = 23;
const NAMES: [&str; 5] = ["Dana", "Ari", "Cole", "Bea", "Eve"];

/// 23 users with many ties and missing values, inserted in index order (so
/// their internal ids, the tie-breaker of every sort, follow the index).
fn paging_users(base: i64) -> Vec<NewUser> {
    (0..PAGED_USERS)
        .map(|i| {
            let user_id = format!("user-{:03}", (i * 7) % PAGED_USERS);
            let mut u = new_user(
                &format!("j_page{i:04}test"),
                (i % 5 != 4).then_some(user_id.as_str()),
            );
            u.name = (i % 6 != 0).then(|| NAMES[i % 5].to_string());
            u.email =
                (i % 3 != 1).then(|| format!("{}@example.com", NAMES[(i * 2) % 5].to_lowercase()));
            u.sessions = (i % 4) as i64;
            u.last_activity = (i % 7 != 3).then(|| base + ((i * 5) % 9) as i64 * 1000);
            u.first_seen = u.last_activity;
            u.created = base - ((i * 3) % 8) as i64 * 60_000;
            u
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Int(i64),
    Text(String),
}

/// The order the list must show, as jimer ids, per the sort's value then id.
fn expected_order(users: &[NewUser], sort: &str) -> Vec<String> {
    let (descending, key) = match sort.strip_prefix('-') {
        Some(k) => (true, k),
        None => (false, sort),
    };
    let key_of = |u: &NewUser| match key {
        "last_activity" => Key::Int(u.last_activity.unwrap_or(-1)),
        "created" => Key::Int(u.created),
        "sessions" => Key::Int(u.sessions),
        "first_seen" => Key::Int(u.first_seen.unwrap_or(-1)),
        "name" => Key::Text(u.name.clone().unwrap_or_default()),
        "email" => Key::Text(u.email.clone().unwrap_or_default()),
        "user_id" => Key::Text(u.user_id.clone().unwrap_or_default()),
        other => panic!("no expectation for sort {other}"),
    };
    let mut order: Vec<(Key, usize)> = users
        .iter()
        .enumerate()
        .map(|(i, u)| (key_of(u), i))
        .collect();
    order.sort();
    if descending {
        order.reverse();
    }
    order
        .into_iter()
        .map(|(_, i)| users[i].jimer_id.clone())
        .collect()
}

impl Api {
    /// Pages through `GET /api/v1/users?{query}` with `limit`; answers the
    /// jimer ids in order, checking `total` on every page.
    async fn page_through(&self, query: &str, limit: usize, total: usize) -> Vec<String> {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..=total.div_ceil(limit) + 1 {
            let mut q = format!("{query}&limit={limit}");
            if let Some(c) = &cursor {
                q.push_str(&format!("&cursor={}", encode(c)));
            }
            let page = self
                .list(&q)
                .await
                .expect(StatusCode::OK, &format!("list {q}"))
                .json;
            assert_eq!(
                page["total"],
                json!(total),
                "[{}] total on every page of {q}",
                self.db
            );
            let users = page["users"].as_array().expect("users");
            assert!(
                users.len() <= limit,
                "[{}] {q}: {} users over the limit",
                self.db,
                users.len()
            );
            seen.extend(
                users
                    .iter()
                    .map(|u| u["jimer_id"].as_str().expect("jimer_id").to_string()),
            );
            match page["next_cursor"].as_str() {
                Some(c) => {
                    assert_eq!(
                        users.len(),
                        limit,
                        "[{}] {q}: a page with a next_cursor is full",
                        self.db
                    );
                    cursor = Some(c.to_string());
                }
                None => return seen,
            }
        }
        panic!("[{}] {query}: paging did not end", self.db);
    }
}

#[tokio::test]
async fn list_users_pages_through_every_user_once_in_order() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        let users = paging_users(now_ms() - 3_600_000);
        api.insert(&users).await;
        let sorts = [
            "-last_activity",
            "last_activity",
            "created",
            "-created",
            "name",
            "-name",
            "-sessions",
            "sessions",
            "user_id",
            "-user_id",
            "email",
            "-first_seen",
        ];
        for sort in sorts {
            let expected = expected_order(&users, sort);
            for limit in [5, 1, PAGED_USERS, 500] {
                let got = api
                    .page_through(&format!("sort={sort}"), limit, PAGED_USERS)
                    .await;
                assert_eq!(got, expected, "[{}] sort={sort} limit={limit}", db.name);
            }
        }
        // No sort: most recently active first.
        let got = api.page_through("", 4, PAGED_USERS).await;
        assert_eq!(
            got,
            expected_order(&users, "-last_activity"),
            "[{}] default sort",
            db.name
        );
        // Without a limit: 50 per page.
        let page = api.list("").await.expect(StatusCode::OK, "list").json;
        assert_eq!(
            page["users"].as_array().unwrap().len(),
            PAGED_USERS,
            "[{}]",
            db.name
        );
        assert_eq!(page["next_cursor"], Value::Null, "[{}]", db.name);
        assert_eq!(page["total"], json!(PAGED_USERS), "[{}]", db.name);
    }
}

#[tokio::test]
async fn list_users_limit_and_total() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        let empty = api.list("").await.expect(StatusCode::OK, "empty list").json;
        assert_eq!(
            empty,
            json!({"users": [], "next_cursor": null, "total": 0}),
            "[{}]",
            db.name
        );
        let items: Vec<Value> = (0..60)
            .map(|i| json!({"user_id": format!("u{i:02}")}))
            .collect();
        api.post("/api/v1/batch", &json!({"batch": items}))
            .await
            .expect(StatusCode::OK, "batch");
        let page = api
            .list("limit=7")
            .await
            .expect(StatusCode::OK, "limit=7")
            .json;
        assert_eq!(page["users"].as_array().unwrap().len(), 7, "[{}]", db.name);
        assert_eq!(page["total"], 60, "[{}]", db.name);
        assert!(page["next_cursor"].is_string(), "[{}]", db.name);
        let page = api
            .list("")
            .await
            .expect(StatusCode::OK, "default limit")
            .json;
        assert_eq!(
            page["users"].as_array().unwrap().len(),
            50,
            "[{}] 50 by default",
            db.name
        );
        let page = api
            .list("limit=500")
            .await
            .expect(StatusCode::OK, "limit=500")
            .json;
        assert_eq!(page["users"].as_array().unwrap().len(), 60, "[{}]", db.name);
        assert_eq!(page["next_cursor"], Value::Null, "[{}]", db.name);
        // The user objects of the list are the full Users.
        let u = page["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["user_id"] == "u07")
            .expect("u07");
        assert_eq!(u, &api.user_ok("u07").await, "[{}]", db.name);
    }
}

#[tokio::test]
async fn list_users_search() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        let people = [
            ("u-100", "Alice Martin", "alice@acme.io"),
            ("u-1000", "Bob Stone", "bob@acme.io"),
            ("u-2", "Carla 50% Off", "carla@shop.example"),
            ("u-3", "Dan 500 Offers", "dan@shop.example"),
            ("u-4", "Eve", "a_b@mail.example"),
            ("u-5", "Fay", "axb@mail.example"),
            ("u-6", "Malice", "m@other.example"),
            ("u-7", "Gus \\ Slash", "gus@other.example"),
        ];
        let mut jimer = BTreeMap::new();
        for (id, name, email) in people {
            let u = api
                .identify_ok(json!({"user_id": id, "name": name, "email": email}))
                .await;
            jimer.insert(id, u["jimer_id"].as_str().unwrap().to_string());
        }
        let cases: Vec<(String, Vec<&str>)> = vec![
            ("ALICE".into(), vec!["u-100", "u-6"]),
            ("aLiCe mArTiN".into(), vec!["u-100"]),
            ("acme.io".into(), vec!["u-100", "u-1000"]),
            ("SHOP.EXAMPLE".into(), vec!["u-2", "u-3"]),
            ("u-100".into(), vec!["u-100"]),
            ("u-1000".into(), vec!["u-1000"]),
            (jimer["u-3"].clone(), vec!["u-3"]),
            ("50%".into(), vec!["u-2"]),
            ("%".into(), vec!["u-2"]),
            ("a_b".into(), vec!["u-4"]),
            ("_".into(), vec!["u-4"]),
            ("\\".into(), vec!["u-7"]),
            ("nobody".into(), vec![]),
        ];
        for (q, want) in cases {
            let page = api
                .list(&format!("q={}&limit=500", encode(&q)))
                .await
                .expect(StatusCode::OK, &format!("q={q}"))
                .json;
            let mut got: Vec<&str> = page["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["user_id"].as_str().unwrap())
                .collect();
            got.sort();
            assert_eq!(got, want, "[{}] q={q:?}", db.name);
            assert_eq!(
                page["total"],
                json!(want.len()),
                "[{}] total of q={q:?}",
                db.name
            );
        }
        // Search and paging together.
        let got = api.page_through("q=acme&sort=user_id", 1, 2).await;
        assert_eq!(
            got,
            [jimer["u-100"].clone(), jimer["u-1000"].clone()],
            "[{}] q with paging",
            db.name
        );
    }
}

#[tokio::test]
async fn list_users_rejects_bad_parameters_with_400() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        api.insert(&paging_users(now_ms())).await;
        let name_cursor = api
            .list("sort=name&limit=2")
            .await
            .expect(StatusCode::OK, "list")
            .json["next_cursor"]
            .as_str()
            .expect("a cursor")
            .to_string();
        let cases: Vec<(String, &str, &str)> = vec![
            ("sort=bogus".into(), "invalid_sort", "last_activity"),
            ("sort=-".into(), "invalid_sort", "descending"),
            ("sort=Name".into(), "invalid_sort", "name"),
            ("limit=0".into(), "invalid_limit", "500"),
            ("limit=501".into(), "invalid_limit", "500"),
            ("limit=abc".into(), "invalid_limit", "500"),
            ("limit=-1".into(), "invalid_limit", "500"),
            ("limit=".into(), "invalid_limit", "500"),
            ("cursor=zzz".into(), "invalid_cursor", "next_cursor"),
            ("cursor=00".into(), "invalid_cursor", "next_cursor"),
            (
                format!("sort=created&cursor={name_cursor}"),
                "invalid_cursor",
                "same `sort`",
            ),
            ("foo=1".into(), "invalid_parameter", "foo"),
            ("Limit=5".into(), "invalid_parameter", "limit"),
            (format!("q={}", "x".repeat(201)), "invalid_parameter", "200"),
        ];
        for (q, code, hint) in cases {
            api.list(&q)
                .await
                .expect_error(
                    StatusCode::BAD_REQUEST,
                    code,
                    &format!("GET /api/v1/users?{q}"),
                )
                .mentions(hint);
        }
        // The same cursor is fine with its own sort.
        api.list(&format!("sort=name&cursor={name_cursor}"))
            .await
            .expect(StatusCode::OK, "cursor with its sort");
    }
}

/// A `next_cursor` belongs to its sort: reused with another sort (even one
/// of the same kind, or the other direction) it is refused, not silently
/// answered with a page that skips or repeats users.
#[tokio::test]
async fn a_cursor_is_refused_with_another_sort() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        api.insert(&paging_users(now_ms())).await;
        for (from, to) in [
            ("name", "user_id"),
            ("name", "-name"),
            ("created", "-sessions"),
            ("-last_activity", "last_activity"),
        ] {
            let cursor = api
                .list(&format!("sort={from}&limit=3"))
                .await
                .expect(StatusCode::OK, "list")
                .json["next_cursor"]
                .as_str()
                .expect("a cursor")
                .to_string();
            api.list(&format!("sort={}&cursor={cursor}", encode(to)))
                .await
                .expect_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_cursor",
                    &format!("a sort={from} cursor with sort={to}"),
                );
        }
    }
}

// ---------------------------------------------------------------------------
// Attribute definitions
// ---------------------------------------------------------------------------

#[tokio::test]
async fn attributes_list_names_types_sources_users_and_last_seen() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        let start = Utc::now() - chrono::Duration::seconds(2);
        let synced_at = now_ms() - 86_400_000;
        let mut synced = new_user("j_hubspotuser02", Some("h1"));
        synced.attributes = vec![
            NewAttribute {
                name: "plan".into(),
                value: AttrValue::String("Enterprise".into()),
                source: "hubspot",
                updated_at: synced_at,
            },
            NewAttribute {
                name: "crm_score".into(),
                value: AttrValue::Number(80.0),
                source: "hubspot",
                updated_at: synced_at,
            },
        ];
        api.insert(&[synced]).await;
        api.identify_ok(json!({"user_id": "u1", "attributes": {"plan": "Pro", "seats": 3, "renewal": "2025-01-01", "beta": true, "roles": ["a"]}}))
            .await;
        api.identify_ok(json!({"user_id": "u2", "attributes": {"plan": "Team"}}))
            .await;

        let res = api
            .get("/api/v1/attributes")
            .await
            .expect(StatusCode::OK, "GET /api/v1/attributes");
        let defs = api.definitions().await;
        let names: Vec<&str> = res.json["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["beta", "crm_score", "plan", "renewal", "roles", "seats"],
            "[{}] every key, by name",
            db.name
        );
        let expect = [
            ("plan", "string", vec!["custom", "hubspot"], 3),
            ("crm_score", "number", vec!["hubspot"], 1),
            ("seats", "number", vec!["custom"], 1),
            ("renewal", "date", vec!["custom"], 1),
            ("beta", "boolean", vec!["custom"], 1),
            ("roles", "array", vec!["custom"], 1),
        ];
        for (name, t, sources, users) in expect {
            let d = &defs[name];
            assert_eq!(d["type"], t, "[{}] type of {name}", db.name);
            let mut got: Vec<&str> = d["sources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap())
                .collect();
            got.sort();
            assert_eq!(got, sources, "[{}] sources of {name}", db.name);
            assert_eq!(d["users"], users, "[{}] users of {name}", db.name);
            let last = date(&d["last_seen"]);
            if name == "crm_score" {
                assert_eq!(
                    last.timestamp_millis(),
                    synced_at,
                    "[{}] last_seen of {name}",
                    db.name
                );
            } else {
                assert!(
                    last >= start && last <= Utc::now(),
                    "[{}] last_seen of {name}: {last}",
                    db.name
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------
// SDK
// ---------------------------------------------------------------------------

#[tokio::test]
async fn sdk_visit_creates_an_anonymous_profile_and_counts_one_session() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        let answer = api.visit("j_visitor00001").await;
        assert_eq!(
            answer,
            json!({"jimer_id": "j_visitor00001", "user_id": null}),
            "[{}]",
            db.name
        );
        let u = api
            .by_jimer("j_visitor00001")
            .await
            .expect("the visitor's profile");
        assert_eq!(u["user_id"], Value::Null, "[{}] anonymous", db.name);
        assert_eq!(u["sessions"], 1, "[{}] first visit is a session", db.name);
        let first_seen = date(&u["first_seen"]);
        let last = date(&u["last_activity"]);

        api.visit("j_visitor00001").await;
        let u = api
            .by_jimer("j_visitor00001")
            .await
            .expect("the visitor's profile");
        assert_eq!(
            u["sessions"], 1,
            "[{}] a visit right after is the same session",
            db.name
        );
        assert_eq!(date(&u["first_seen"]), first_seen, "[{}]", db.name);
        assert!(date(&u["last_activity"]) >= last, "[{}]", db.name);
        assert_eq!(api.total().await, 1, "[{}]", db.name);

        // Content types: text/plain (sdk.js), application/json, none.
        for ct in [Some(JSON), None, Some("text/plain")] {
            let body = json!({"key": api.ws.sdk_key, "jimer_id": "j_visitor00002"}).to_string();
            api.sdk_raw("/sdk/v1/visit", ct, body)
                .await
                .expect(StatusCode::OK, &format!("visit with content type {ct:?}"));
        }
        assert_eq!(api.total().await, 2, "[{}]", db.name);
    }
}

#[tokio::test]
async fn sdk_visit_counts_a_new_session_after_30_minutes_away() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        let minute = 60_000;
        let now = now_ms();
        let returning = |jimer: &str, away_minutes: i64| {
            let mut u = new_user(jimer, None);
            u.sessions = 3;
            u.first_seen = Some(now - 600 * minute);
            u.last_activity = Some(now - away_minutes * minute);
            u
        };
        api.insert(&[
            returning("j_awayvisitor01", 31),
            returning("j_backvisitor01", 29),
        ])
        .await;

        api.visit("j_awayvisitor01").await;
        let away = api.by_jimer("j_awayvisitor01").await.unwrap();
        assert_eq!(
            away["sessions"], 4,
            "[{}] back after 31 minutes: a new session",
            db.name
        );
        assert_eq!(
            date(&away["first_seen"]).timestamp_millis(),
            now - 600 * minute,
            "[{}] first_seen stays",
            db.name
        );
        assert!(
            date(&away["last_activity"]).timestamp_millis() >= now,
            "[{}] last_activity moves",
            db.name
        );

        api.visit("j_backvisitor01").await;
        let back = api.by_jimer("j_backvisitor01").await.unwrap();
        assert_eq!(
            back["sessions"], 3,
            "[{}] back after 29 minutes: the same session",
            db.name
        );
        assert!(
            date(&back["last_activity"]).timestamp_millis() >= now,
            "[{}] last_activity moves",
            db.name
        );
    }
}

#[tokio::test]
async fn sdk_update_changes_only_the_visitor() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        api.visit("j_visitorAAAA1").await;
        api.visit("j_visitorBBBB1").await;
        api.identify_ok(
            json!({"user_id": "victim", "name": "Victim", "attributes": {"plan": "Pro"}}),
        )
        .await;
        let res = api
            .sdk(
                "/sdk/v1/update",
                "j_visitorAAAA1",
                json!({"name": "Anon A", "email": "a@example.com", "language": "fr",
                "attributes": {"plan": "Team", "score": 3, "renewal": "2025-01-01"}}),
            )
            .await
            .expect(StatusCode::OK, "SDK update");
        assert_eq!(res.json, json!({"ok": true}), "[{}]", db.name);
        let a = api.me("j_visitorAAAA1").await;
        assert_eq!(a["name"], "Anon A", "[{}]", db.name);
        assert_eq!(a["email"], "a@example.com", "[{}]", db.name);
        assert_eq!(a["language"], "fr", "[{}]", db.name);
        assert_eq!(
            a["attributes"],
            json!({"plan": "Team", "score": 3, "renewal": "2025-01-01T00:00:00Z"}),
            "[{}]",
            db.name
        );
        let b = api.me("j_visitorBBBB1").await;
        assert_eq!(
            b["name"],
            Value::Null,
            "[{}] other visitor untouched",
            db.name
        );
        assert_eq!(
            b["attributes"],
            json!({}),
            "[{}] other visitor untouched",
            db.name
        );
        let victim = api.user_ok("victim").await;
        assert_eq!(victim["name"], "Victim", "[{}] users untouched", db.name);
        assert_eq!(
            value(&victim, "plan"),
            "Pro",
            "[{}] users untouched",
            db.name
        );
        let stored = api.by_jimer("j_visitorAAAA1").await.unwrap();
        assert_eq!(
            attr(&stored, "score").unwrap()["source"],
            "custom",
            "[{}]",
            db.name
        );
        assert_eq!(
            stored["sessions"], 1,
            "[{}] an update right after a visit is the same session",
            db.name
        );

        // null removes and clears; remove_unspecified works as over REST.
        api.sdk(
            "/sdk/v1/update",
            "j_visitorAAAA1",
            json!({"name": null, "attributes": {"score": null}}),
        )
        .await
        .expect(StatusCode::OK, "SDK update with nulls");
        let a = api.me("j_visitorAAAA1").await;
        assert_eq!(a["name"], Value::Null, "[{}]", db.name);
        assert_eq!(
            a["attributes"],
            json!({"plan": "Team", "renewal": "2025-01-01T00:00:00Z"}),
            "[{}]",
            db.name
        );
        api.sdk(
            "/sdk/v1/update",
            "j_visitorAAAA1",
            json!({"attributes": {"plan": "Pro"}, "remove_unspecified": true}),
        )
        .await
        .expect(StatusCode::OK, "SDK update with remove_unspecified");
        assert_eq!(
            api.me("j_visitorAAAA1").await["attributes"],
            json!({"plan": "Pro"}),
            "[{}]",
            db.name
        );

        // Invalid updates change nothing; a visitor cannot pick another profile.
        let before = api.snapshot().await;
        for (extra, code) in [
            (
                json!({"user_id": "victim", "name": "Hacked"}),
                "invalid_request",
            ),
            (
                json!({"attributes": {"address": {"city": "x"}}}),
                "invalid_attribute_value",
            ),
            (
                json!({"attributes": {"email": "x@y.z"}}),
                "reserved_attribute_name",
            ),
            (
                json!({"attributes": {"plan": "Team", "bio": "x".repeat(701)}}),
                "value_too_long",
            ),
            (json!({"email": "nope"}), "invalid_request"),
        ] {
            api.sdk("/sdk/v1/update", "j_visitorAAAA1", extra.clone())
                .await
                .expect_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    code,
                    &format!("SDK update {extra}"),
                );
        }
        api.sdk(
            "/sdk/v1/update",
            "j_visitorAAAA1",
            json!({"attributes": {"score": "high"}}),
        )
        .await
        .expect_error(
            StatusCode::CONFLICT,
            "type_conflict",
            "SDK update with a lossy value",
        );
        api.assert_unchanged(&before, "rejected SDK updates").await;
    }
}

#[tokio::test]
async fn sdk_me_answers_only_the_visitors_own_profile() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        api.identify_ok(json!({"user_id": "victim", "name": "Victim", "email": "v@example.com", "attributes": {"secret": "s"}})).await;
        api.visit("j_visitorMEME1").await;
        api.sdk(
            "/sdk/v1/update",
            "j_visitorMEME1",
            json!({"attributes": {"plan": "Pro"}}),
        )
        .await
        .expect(StatusCode::OK, "update");

        let me = api.me("j_visitorMEME1").await;
        assert_eq!(
            me,
            json!({"jimer_id": "j_visitorMEME1", "user_id": null, "name": null, "email": null, "language": null,
                "attributes": {"plan": "Pro"}}),
            "[{}]",
            db.name
        );
        // Extra members do not reach anyone else's profile.
        let res = api
            .sdk("/sdk/v1/me", "j_visitorMEME1", json!({"user_id": "victim"}))
            .await;
        if res.status == StatusCode::OK {
            assert_eq!(
                res.json["jimer_id"], "j_visitorMEME1",
                "[{}] me answered another profile",
                db.name
            );
            assert_eq!(
                res.json["attributes"],
                json!({"plan": "Pro"}),
                "[{}]",
                db.name
            );
        }
        let victim_jimer = api.user_ok("victim").await["jimer_id"]
            .as_str()
            .unwrap()
            .to_string();
        let victim = api.me(&victim_jimer).await;
        assert_eq!(
            victim["user_id"], "victim",
            "[{}] a jimer id is the only key to a profile",
            db.name
        );

        let total = api.total().await;
        api.sdk("/sdk/v1/me", "j_unknownvisitor1", json!({}))
            .await
            .expect_error(
                StatusCode::NOT_FOUND,
                "unknown_visitor",
                "me of an unknown jimer id",
            );
        assert_eq!(
            api.total().await,
            total,
            "[{}] me creates no profile",
            db.name
        );
    }
}

#[tokio::test]
async fn sdk_identify_links_the_visitor_to_a_new_user() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        api.visit("j_visitorLINK1").await;
        api.sdk(
            "/sdk/v1/update",
            "j_visitorLINK1",
            json!({"attributes": {"plan": "Pro"}}),
        )
        .await
        .expect(StatusCode::OK, "update");
        let res = api
            .sdk(
                "/sdk/v1/identify",
                "j_visitorLINK1",
                json!({"user_id": "sdk-user-1"}),
            )
            .await
            .expect(StatusCode::OK, "SDK identify");
        assert_eq!(
            res.json,
            json!({"jimer_id": "j_visitorLINK1", "user_id": "sdk-user-1"}),
            "[{}]",
            db.name
        );
        let u = api.user_ok("sdk-user-1").await;
        assert_eq!(
            u["jimer_id"], "j_visitorLINK1",
            "[{}] the visitor's profile became the user's",
            db.name
        );
        assert_eq!(value(&u, "plan"), "Pro", "[{}]", db.name);
        assert_eq!(u["sessions"], 1, "[{}]", db.name);
        assert_eq!(
            api.me("j_visitorLINK1").await["user_id"],
            "sdk-user-1",
            "[{}]",
            db.name
        );
        assert_eq!(api.total().await, 1, "[{}]", db.name);

        // Identifying again is a no-op.
        let again = api
            .sdk(
                "/sdk/v1/identify",
                "j_visitorLINK1",
                json!({"user_id": "sdk-user-1"}),
            )
            .await
            .expect(StatusCode::OK, "again");
        assert_eq!(again.json, res.json, "[{}]", db.name);
        assert_eq!(api.total().await, 1, "[{}]", db.name);

        // A bad user id is rejected and links nothing.
        let before = api.snapshot().await;
        for bad in [
            json!(""),
            json!(null),
            json!({"id": 1}),
            json!("x".repeat(256)),
        ] {
            api.sdk(
                "/sdk/v1/identify",
                "j_visitorLINK2",
                json!({"user_id": bad}),
            )
            .await
            .expect_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                &format!("SDK identify user_id {bad}"),
            );
        }
        api.assert_unchanged(&before, "SDK identify with bad user ids")
            .await;
    }
}

#[tokio::test]
async fn sdk_identify_folds_the_visitor_into_an_existing_user() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        let known = api
            .identify_ok(
                json!({"user_id": "known", "name": "Known User", "attributes": {"plan": "Pro"}}),
            )
            .await;
        let known_jimer = known["jimer_id"].as_str().unwrap().to_string();
        api.visit("j_visitorFOLD1").await;
        api.sdk(
            "/sdk/v1/update",
            "j_visitorFOLD1",
            json!({"name": "Anonymous", "language": "de", "attributes": {"seen_pricing": true}}),
        )
        .await
        .expect(StatusCode::OK, "anonymous update");
        assert_eq!(api.total().await, 2, "[{}]", db.name);

        let res = api
            .sdk(
                "/sdk/v1/identify",
                "j_visitorFOLD1",
                json!({"user_id": "known"}),
            )
            .await
            .expect(StatusCode::OK, "identify");
        assert_eq!(
            res.json,
            json!({"jimer_id": known_jimer, "user_id": "known"}),
            "[{}] answer carries the user's jimer id",
            db.name
        );

        let u = api.user_ok("known").await;
        assert_eq!(u["jimer_id"], json!(known_jimer), "[{}]", db.name);
        assert_eq!(
            value(&u, "plan"),
            "Pro",
            "[{}] the user's attributes stay",
            db.name
        );
        assert_eq!(
            value(&u, "seen_pricing"),
            true,
            "[{}] the visitor's attributes move over",
            db.name
        );
        assert_eq!(
            u["name"], "Known User",
            "[{}] the user's own name wins",
            db.name
        );
        assert_eq!(
            u["language"], "de",
            "[{}] missing native fields come from the visitor",
            db.name
        );
        assert_eq!(
            u["sessions"], 1,
            "[{}] the visitor's session counts",
            db.name
        );
        assert!(!u["first_seen"].is_null(), "[{}]", db.name);

        assert!(
            api.by_jimer("j_visitorFOLD1").await.is_none(),
            "[{}] the anonymous profile is gone",
            db.name
        );
        assert_eq!(api.total().await, 1, "[{}]", db.name);
        api.sdk("/sdk/v1/me", "j_visitorFOLD1", json!({}))
            .await
            .expect_error(
                StatusCode::NOT_FOUND,
                "unknown_visitor",
                "me of the folded jimer id",
            );
        assert_eq!(
            api.me(&known_jimer).await["attributes"],
            json!({"plan": "Pro", "seen_pricing": true}),
            "[{}]",
            db.name
        );
        assert_eq!(
            api.def_users("seen_pricing").await,
            1,
            "[{}] definition counts follow the fold",
            db.name
        );
        assert_eq!(api.def_users("plan").await, 1, "[{}]", db.name);
    }
}

#[tokio::test]
async fn sdk_identify_fold_keeps_the_newest_value_of_each_attribute() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        let hour = 3_600_000;
        let mut known = new_user("j_knownuser0001", Some("known"));
        known.attributes = vec![
            // Older than anything the visitor sends: the visitor's value wins.
            NewAttribute {
                name: "plan".into(),
                value: AttrValue::String("Pro".into()),
                source: "custom",
                updated_at: now_ms() - hour,
            },
            // Newer than anything the visitor sends: the user's value stays.
            NewAttribute {
                name: "stage".into(),
                value: AttrValue::String("customer".into()),
                source: "hubspot",
                updated_at: now_ms() + hour,
            },
        ];
        api.insert(&[known]).await;
        api.sdk(
            "/sdk/v1/update",
            "j_visitorNEWS1",
            json!({"attributes": {"plan": "Team", "stage": "lead", "extra": 1}}),
        )
        .await
        .expect(StatusCode::OK, "anonymous update");
        assert_eq!(api.def_users("plan").await, 2, "[{}]", db.name);

        let res = api
            .sdk(
                "/sdk/v1/identify",
                "j_visitorNEWS1",
                json!({"user_id": "known"}),
            )
            .await
            .expect(StatusCode::OK, "identify");
        assert_eq!(res.json["jimer_id"], "j_knownuser0001", "[{}]", db.name);
        let u = api.user_ok("known").await;
        assert_eq!(
            value(&u, "plan"),
            "Team",
            "[{}] the visitor's newer value wins",
            db.name
        );
        assert_eq!(
            value(&u, "stage"),
            "customer",
            "[{}] the user's newer value stays",
            db.name
        );
        assert_eq!(
            attr(&u, "stage").unwrap()["source"],
            "hubspot",
            "[{}]",
            db.name
        );
        assert_eq!(value(&u, "extra"), 1, "[{}]", db.name);
        assert_eq!(api.total().await, 1, "[{}]", db.name);
        for (name, users) in [("plan", 1), ("stage", 1), ("extra", 1)] {
            assert_eq!(
                api.def_users(name).await,
                users,
                "[{}] users of {name} after the fold",
                db.name
            );
        }
    }
}

/// A browser already linked to one user, identified as another without a
/// reset in between, never merges the two users.
#[tokio::test]
async fn sdk_identify_of_another_user_on_a_linked_browser_keeps_users_apart() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        let carol = api
            .identify_ok(json!({"user_id": "carol", "attributes": {"plan": "Team"}}))
            .await;
        api.visit("j_sharedbrowser1").await;
        api.sdk(
            "/sdk/v1/update",
            "j_sharedbrowser1",
            json!({"attributes": {"secret_note": "alice's"}}),
        )
        .await
        .expect(StatusCode::OK, "update");
        api.sdk(
            "/sdk/v1/identify",
            "j_sharedbrowser1",
            json!({"user_id": "alice"}),
        )
        .await
        .expect(StatusCode::OK, "identify alice");

        // A new user: a new profile, with none of alice's data.
        let bob = api
            .sdk(
                "/sdk/v1/identify",
                "j_sharedbrowser1",
                json!({"user_id": "bob"}),
            )
            .await
            .expect(StatusCode::OK, "identify bob");
        assert_eq!(bob.json["user_id"], "bob", "[{}]", db.name);
        let bob_jimer = bob.json["jimer_id"].as_str().unwrap().to_string();
        assert_ne!(
            bob_jimer, "j_sharedbrowser1",
            "[{}] bob got alice's profile",
            db.name
        );
        let bob_user = api.user_ok("bob").await;
        assert_eq!(bob_user["jimer_id"], json!(bob_jimer), "[{}]", db.name);
        assert!(
            attr(&bob_user, "secret_note").is_none(),
            "[{}] bob sees alice's attributes",
            db.name
        );

        // An existing user: that user's profile, untouched by alice's data.
        let res = api
            .sdk(
                "/sdk/v1/identify",
                "j_sharedbrowser1",
                json!({"user_id": "carol"}),
            )
            .await
            .expect(StatusCode::OK, "identify carol");
        assert_eq!(
            res.json,
            json!({"jimer_id": carol["jimer_id"], "user_id": "carol"}),
            "[{}]",
            db.name
        );
        let carol_now = api.user_ok("carol").await;
        assert_eq!(
            attr_names(&carol_now),
            ["plan"],
            "[{}] carol got alice's attributes",
            db.name
        );

        let alice = api.user_ok("alice").await;
        assert_eq!(alice["jimer_id"], "j_sharedbrowser1", "[{}]", db.name);
        assert_eq!(
            value(&alice, "secret_note"),
            "alice's",
            "[{}] alice keeps her data",
            db.name
        );
        assert_eq!(api.total().await, 3, "[{}]", db.name);
    }
}

#[tokio::test]
async fn sdk_rejects_bad_keys_and_jimer_ids() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        api.visit("j_visitorGOOD1").await;
        let before = api.snapshot().await;
        for bad in [
            "abc",
            "j_short",
            "j_has-dash123",
            "J_uppercase1",
            "j_",
            &format!("j_{}", "a".repeat(65)),
            "",
        ] {
            for endpoint in [
                "/sdk/v1/visit",
                "/sdk/v1/update",
                "/sdk/v1/me",
                "/sdk/v1/identify",
            ] {
                api.sdk(endpoint, bad, json!({"user_id": "u1"}))
                    .await
                    .expect_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_jimer_id",
                        &format!("{endpoint} with jimer id {bad:?}"),
                    )
                    .mentions("j_");
            }
        }
        let no_jimer = json!({"key": api.ws.sdk_key}).to_string();
        api.sdk_raw("/sdk/v1/visit", Some(TEXT_PLAIN), no_jimer)
            .await
            .expect_error(
                StatusCode::BAD_REQUEST,
                "invalid_jimer_id",
                "visit without a jimer id",
            );

        for (body, what) in [
            (
                json!({"key": "pk_not_a_real_key", "jimer_id": "j_visitorGOOD1"}),
                "a wrong SDK key",
            ),
            (
                json!({"key": api.ws.secret_key, "jimer_id": "j_visitorGOOD1"}),
                "the secret key",
            ),
            (json!({"jimer_id": "j_visitorGOOD1"}), "no key"),
        ] {
            for endpoint in [
                "/sdk/v1/visit",
                "/sdk/v1/update",
                "/sdk/v1/me",
                "/sdk/v1/identify",
            ] {
                api.sdk_raw(endpoint, Some(TEXT_PLAIN), body.to_string())
                    .await
                    .expect_error(
                        StatusCode::UNAUTHORIZED,
                        "unauthorized",
                        &format!("{endpoint} with {what}"),
                    )
                    .mentions("key");
            }
        }
        api.sdk_raw("/sdk/v1/visit", Some(TEXT_PLAIN), "{\"key\":")
            .await
            .expect_error(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                "malformed SDK body",
            );
        api.sdk_raw("/sdk/v1/visit", Some(TEXT_PLAIN), "")
            .await
            .expect_error(StatusCode::BAD_REQUEST, "invalid_json", "empty SDK body");
        api.sdk_raw("/sdk/v1/visit", Some(TEXT_PLAIN), "[]")
            .await
            .expect_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "SDK body not an object",
            );
        api.assert_unchanged(&before, "rejected SDK calls").await;
    }
}

#[tokio::test]
async fn sdk_rate_limit_answers_429_with_retry_after() {
    for db in common::databases().await {
        let api = Api::with_settings(&db, Settings { sdk_rate_limit: 1 }).await;
        let start = Instant::now();
        // 1 request a second in bursts of 2: the third request at once is refused.
        let mut statuses = Vec::new();
        let mut limited = None;
        for i in 0..10 {
            let jimer = format!("j_ratelimit{i:03}");
            let res = api.sdk("/sdk/v1/visit", &jimer, json!({})).await;
            statuses.push(res.status);
            if res.status == StatusCode::TOO_MANY_REQUESTS {
                limited = Some((jimer, res));
                break;
            }
            res.expect(StatusCode::OK, &format!("visit {i}"));
        }
        let elapsed = start.elapsed();
        let (jimer, res) =
            limited.unwrap_or_else(|| panic!("[{}] no 429 in {statuses:?} ({elapsed:?})", db.name));
        // Each second that passed may have refilled one request.
        let allowed = 2 + elapsed.as_secs() as usize;
        let passed = statuses.len() - 1;
        assert!(
            passed >= 2,
            "[{}] the burst of 2 was refused: {statuses:?}",
            db.name
        );
        assert!(
            passed <= allowed,
            "[{}] more than the burst passed in {elapsed:?}: {statuses:?}",
            db.name
        );
        let res = res
            .expect_error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "over the SDK rate limit",
            )
            .mentions("Retry-After");
        let retry: u64 = res
            .header(header::RETRY_AFTER)
            .unwrap_or_else(|| panic!("[{}] 429 without Retry-After", db.name))
            .parse()
            .expect("Retry-After in seconds");
        assert!(
            (1..=2).contains(&retry),
            "[{}] Retry-After {retry}",
            db.name
        );
        assert!(
            api.by_jimer(&jimer).await.is_none(),
            "[{}] a refused visit creates nothing",
            db.name
        );
        // The REST API has no such limit.
        for _ in 0..3 {
            api.list("limit=1")
                .await
                .expect(StatusCode::OK, "REST beside a limited SDK key");
        }
    }
}

#[tokio::test]
async fn cors_is_open_on_the_sdk_only() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        let origin = "https://customer.example";
        let preflight = |path: &str| {
            Request::builder()
                .method(Method::OPTIONS)
                .uri(path)
                .header(header::ORIGIN, origin)
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
                .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
                .body(Body::empty())
                .unwrap()
        };
        let res = api.send(preflight("/sdk/v1/update")).await;
        assert!(
            res.status.is_success(),
            "[{}] SDK preflight: {} {}",
            db.name,
            res.status,
            res.text()
        );
        let allow = res.header(header::ACCESS_CONTROL_ALLOW_ORIGIN);
        assert!(
            allow.as_deref() == Some("*") || allow.as_deref() == Some(origin),
            "[{}] SDK preflight allows {allow:?}",
            db.name
        );
        let methods = res
            .header(header::ACCESS_CONTROL_ALLOW_METHODS)
            .unwrap_or_default();
        assert!(
            methods.contains("POST"),
            "[{}] SDK preflight methods {methods:?}",
            db.name
        );

        let visit = Request::post("/sdk/v1/visit")
            .header(header::ORIGIN, origin)
            .header(header::CONTENT_TYPE, TEXT_PLAIN)
            .body(Body::from(
                json!({"key": api.ws.sdk_key, "jimer_id": "j_corsvisitor1"}).to_string(),
            ))
            .unwrap();
        let res = api
            .send(visit)
            .await
            .expect(StatusCode::OK, "cross-origin visit");
        assert!(
            res.header(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_some(),
            "[{}] SDK answer without CORS",
            db.name
        );

        let list = api
            .rest(Method::GET, "/api/v1/users")
            .header(header::ORIGIN, origin)
            .body(Body::empty())
            .unwrap();
        let res = api
            .send(list)
            .await
            .expect(StatusCode::OK, "cross-origin REST list");
        assert_eq!(
            res.header(header::ACCESS_CONTROL_ALLOW_ORIGIN),
            None,
            "[{}] the REST API must not allow other origins",
            db.name
        );
        let res = api.send(preflight("/api/v1/users")).await;
        assert_eq!(
            res.header(header::ACCESS_CONTROL_ALLOW_ORIGIN),
            None,
            "[{}] REST preflight must not allow other origins",
            db.name
        );
        let res = api.send(preflight("/api/v1/identify")).await;
        assert_eq!(
            res.header(header::ACCESS_CONTROL_ALLOW_ORIGIN),
            None,
            "[{}] REST preflight must not allow other origins",
            db.name
        );
    }
}

#[tokio::test]
async fn identify_verification_requires_the_user_hash() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        api.set_identify_verification(true).await;
        api.visit("j_visitorHASH1").await;
        let before = api.snapshot().await;
        let good = user_hash(&api.ws.identify_secret, "secure-1");
        let bad_hashes = [
            None,
            Some(json!("")),
            Some(json!("not hex")),
            Some(json!(user_hash("is_wrong_secret", "secure-1"))),
            Some(json!(user_hash(&api.ws.identify_secret, "secure-2"))),
            Some(json!(&good[..good.len() - 2])),
            Some(json!(12345)),
        ];
        for hash in bad_hashes {
            let mut extra = json!({"user_id": "secure-1"});
            if let Some(h) = &hash {
                extra["user_hash"] = h.clone();
            }
            api.sdk("/sdk/v1/identify", "j_visitorHASH1", extra)
                .await
                .expect_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_user_hash",
                    &format!("user_hash {hash:?}"),
                )
                .mentions("HMAC");
        }
        api.assert_unchanged(&before, "identify with a bad user_hash")
            .await;
        assert_eq!(
            api.me("j_visitorHASH1").await["user_id"],
            Value::Null,
            "[{}] not linked",
            db.name
        );

        let res = api
            .sdk(
                "/sdk/v1/identify",
                "j_visitorHASH1",
                json!({"user_id": "secure-1", "user_hash": good}),
            )
            .await
            .expect(StatusCode::OK, "identify with the right user_hash");
        assert_eq!(
            res.json,
            json!({"jimer_id": "j_visitorHASH1", "user_id": "secure-1"}),
            "[{}]",
            db.name
        );
        api.user_ok("secure-1").await;

        // Off again: no hash needed.
        api.set_identify_verification(false).await;
        api.visit("j_visitorHASH2").await;
        api.sdk(
            "/sdk/v1/identify",
            "j_visitorHASH2",
            json!({"user_id": "open-1"}),
        )
        .await
        .expect(StatusCode::OK, "identify with verification off");
    }
}

#[tokio::test]
async fn sdk_js_is_served_as_javascript() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        let res = api
            .send(Request::get("/sdk.js").body(Body::empty()).unwrap())
            .await
            .expect(StatusCode::OK, "GET /sdk.js");
        let ct = res.header(header::CONTENT_TYPE).unwrap_or_default();
        assert!(
            ct.contains("javascript"),
            "[{}] /sdk.js content type {ct:?}",
            db.name
        );
        assert!(
            res.text().contains("/sdk/v1/visit"),
            "[{}] /sdk.js is the SDK",
            db.name
        );
    }
}

// ---------------------------------------------------------------------------
// Robustness: text the databases treat differently, standards
// ---------------------------------------------------------------------------

/// A NUL character is valid JSON text. PostgreSQL cannot store it in a text
/// column; whatever userdeck decides (store it, or refuse it with 422), the
/// answer must be the same on every database and never a 500.
#[tokio::test]
async fn text_with_a_nul_character_is_stored_or_refused_never_a_500() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        api.identify_ok(json!({"user_id": "u1", "name": "Sam", "attributes": {"note": "plain"}}))
            .await;
        api.visit("j_visitorNULL1").await;

        for (body, check) in [
            (
                json!({"user_id": "u1", "attributes": {"note": "a\u{0}b"}}),
                "NUL in an attribute value",
            ),
            (
                json!({"user_id": "u1", "name": "Sam\u{0}"}),
                "NUL in a name",
            ),
            (
                json!({"user_id": "u-nul", "attributes": {"note": "a\u{0}b"}}),
                "NUL in a new user's value",
            ),
        ] {
            let before = api.snapshot().await;
            let res = api.identify(body.clone()).await;
            match res.status {
                StatusCode::OK => {
                    let stored = api.user_ok(body["user_id"].as_str().unwrap()).await;
                    assert_eq!(
                        stored, res.json,
                        "[{}] {check}: GET differs from the answer",
                        db.name
                    );
                    match body["attributes"].get("note") {
                        Some(v) => assert_eq!(
                            &value(&stored, "note"),
                            v,
                            "[{}] {check}: round trip",
                            db.name
                        ),
                        None => assert_eq!(
                            stored["name"], body["name"],
                            "[{}] {check}: round trip",
                            db.name
                        ),
                    }
                }
                StatusCode::UNPROCESSABLE_ENTITY => {
                    let code = if body["attributes"].get("note").is_some() {
                        "invalid_attribute_value"
                    } else {
                        "invalid_request"
                    };
                    res.expect_error(StatusCode::UNPROCESSABLE_ENTITY, code, check);
                    api.assert_unchanged(&before, check).await;
                }
                other => panic!(
                    "[{}] {check}: identify {body} answered {other} {}",
                    db.name,
                    res.text()
                ),
            }
        }

        let res = api
            .sdk(
                "/sdk/v1/update",
                "j_visitorNULL1",
                json!({"name": "x\u{0}y"}),
            )
            .await;
        assert!(
            res.status == StatusCode::OK || res.status == StatusCode::UNPROCESSABLE_ENTITY,
            "[{}] SDK update with a NUL name: {} {}",
            db.name,
            res.status,
            res.text()
        );
    }
}

/// No user id holds a NUL (control characters are refused) and no stored
/// name or email here does: looking one up finds nobody, never a 500, and
/// never everybody.
#[tokio::test]
async fn looking_up_a_nul_character_finds_nobody() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        api.identify_ok(json!({"user_id": "u1", "name": "Sam", "email": "sam@example.com"}))
            .await;
        api.identify_ok(json!({"user_id": "u2", "name": "Dana", "email": "dana@example.com"}))
            .await;
        api.get("/api/v1/users/a%00b").await.expect_error(
            StatusCode::NOT_FOUND,
            "user_not_found",
            "GET a user id with NUL",
        );
        api.delete("/api/v1/users/a%00b").await.expect_error(
            StatusCode::NOT_FOUND,
            "user_not_found",
            "DELETE a user id with NUL",
        );
        let res = api.list("q=%00").await;
        match res.status {
            StatusCode::OK => assert_eq!(
                res.json["total"],
                0,
                "[{}] q=NUL matched users: {}",
                db.name,
                res.text()
            ),
            StatusCode::BAD_REQUEST => {
                res.expect_error(StatusCode::BAD_REQUEST, "invalid_parameter", "q with a NUL");
            }
            other => panic!("[{}] q=NUL answered {other} {}", db.name, res.text()),
        }
    }
}

/// One batch item the database cannot take never takes the others down.
#[tokio::test]
async fn a_batch_item_the_database_refuses_fails_alone() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        let res = api
            .post(
                "/api/v1/batch",
                &json!({"batch": [
                    {"user_id": "before-nul", "attributes": {"note": "ok", "fresh_key": 1}},
                    {"user_id": "with-nul", "name": "N\u{0}L", "attributes": {"other_key": true}},
                    {"user_id": "after-nul", "attributes": {"note": "ok"}},
                ]}),
            )
            .await
            .expect(StatusCode::OK, "batch with a NUL item");
        let results = res.json["results"].as_array().unwrap();
        assert_eq!(results[0], json!({"ok": true}), "[{}]", db.name);
        assert_eq!(results[2], json!({"ok": true}), "[{}]", db.name);
        assert_eq!(
            value(&api.user_ok("before-nul").await, "fresh_key"),
            1,
            "[{}]",
            db.name
        );
        api.user_ok("after-nul").await;
        assert_eq!(api.def_users("note").await, 2, "[{}]", db.name);
        assert_eq!(
            api.definitions().await["fresh_key"]["type"],
            "number",
            "[{}]",
            db.name
        );
        if results[1] != json!({"ok": true}) {
            api.user("with-nul").await.expect_error(
                StatusCode::NOT_FOUND,
                "user_not_found",
                "refused batch item",
            );
            assert!(
                !api.definitions().await.contains_key("other_key"),
                "[{}] refused item fixed a type",
                db.name
            );
        }
        assert_ne!(
            results[1]["error"]["code"], "internal_error",
            "[{}] NUL batch item: {}",
            db.name, results[1]
        );
    }
}

/// `q` ignores case for names like "Élodie" too, on every database.
#[tokio::test]
async fn search_ignores_case_beyond_ascii() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        api.identify_ok(
            json!({"user_id": "u1", "name": "Élodie Durand", "email": "elodie@example.com"}),
        )
        .await;
        api.identify_ok(
            json!({"user_id": "u2", "name": "ÖMER Şahin", "email": "omer@example.com"}),
        )
        .await;
        api.identify_ok(json!({"user_id": "u3", "name": "Zoe", "email": "zoe@example.com"}))
            .await;
        for (q, want) in [
            ("élodie", "u1"),
            ("ÉLODIE", "u1"),
            ("Élodie", "u1"),
            ("ömer", "u2"),
            ("Ömer", "u2"),
        ] {
            let page = api
                .list(&format!("q={}", encode(q)))
                .await
                .expect(StatusCode::OK, &format!("q={q}"))
                .json;
            let got: Vec<&str> = page["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["user_id"].as_str().unwrap())
                .collect();
            assert_eq!(got, [want], "[{}] q={q:?}", db.name);
        }
    }
}

/// sdk.js reads Retry-After to back off; from a customer's page the browser
/// only lets it read headers the answer exposes.
#[tokio::test]
async fn sdk_429_is_readable_from_other_origins() {
    for db in common::databases().await {
        let api = Api::with_settings(&db, Settings { sdk_rate_limit: 1 }).await;
        let mut last = None;
        for i in 0..10 {
            let req = Request::post("/sdk/v1/visit")
                .header(header::ORIGIN, "https://customer.example")
                .header(header::CONTENT_TYPE, TEXT_PLAIN)
                .body(Body::from(
                    json!({"key": api.ws.sdk_key, "jimer_id": format!("j_corslimit{i:03}")})
                        .to_string(),
                ))
                .unwrap();
            let res = api.send(req).await;
            if res.status == StatusCode::TOO_MANY_REQUESTS {
                last = Some(res);
                break;
            }
        }
        let res = last.unwrap_or_else(|| panic!("[{}] no 429", db.name));
        assert!(
            res.header(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_some(),
            "[{}] 429 without CORS",
            db.name
        );
        assert!(
            res.header(header::RETRY_AFTER).is_some(),
            "[{}] 429 without Retry-After",
            db.name
        );
        let exposed = res
            .header(header::ACCESS_CONTROL_EXPOSE_HEADERS)
            .unwrap_or_default()
            .to_ascii_lowercase();
        assert!(
            exposed == "*" || exposed.split(',').any(|h| h.trim() == "retry-after"),
            "[{}] Retry-After is not exposed to the SDK's origin (access-control-expose-headers: {exposed:?})",
            db.name
        );
    }
}

/// RFC 7235: the authentication scheme is case-insensitive.
#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        for scheme in ["bearer", "BEARER"] {
            let req = Request::get("/api/v1/users")
                .header(
                    header::AUTHORIZATION,
                    format!("{scheme} {}", api.ws.secret_key),
                )
                .body(Body::empty())
                .unwrap();
            api.send(req).await.expect(
                StatusCode::OK,
                &format!("Authorization: {scheme} <secret_key>"),
            );
        }
    }
}

#[tokio::test]
async fn segments_are_saved_checked_listed_replaced_and_deleted() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        api.identify_ok(json!({"user_id": "s1", "attributes": {"plan": "Pro", "mrr": 120}}))
            .await;
        let pro = json!({"attribute": "plan", "op": "is", "value": "Pro"});
        let created = api
            .post(
                "/api/v1/segments",
                &json!({"name": "Pro", "icon": "⭐", "condition": pro}),
            )
            .await
            .expect(StatusCode::CREATED, "create a segment")
            .json;
        let id = created["id"].as_i64().expect("an id");
        assert_eq!(created["condition"], pro, "[{}]", api.db);
        assert_eq!(created["description"], "", "[{}]", api.db);

        // A segment built on another.
        let big = json!({"all": [{"segment": id, "op": "in"}, {"attribute": "mrr", "op": "gte", "value": 100}]});
        let big_id = api
            .post(
                "/api/v1/segments",
                &json!({"name": "Big Pro", "condition": big}),
            )
            .await
            .expect(StatusCode::CREATED, "a segment using another")
            .json["id"]
            .as_i64()
            .unwrap();

        // Refused, and nothing saved: errors name what is wrong.
        for (body, status, code, says) in [
            (
                json!({"name": "Pro", "condition": pro}),
                StatusCode::CONFLICT,
                "segment_name_taken",
                "exists already",
            ),
            (
                json!({"name": "X", "condition": {"attribute": "shoe_size", "op": "gt", "value": 3}}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_condition",
                "no user has an attribute named \"shoe_size\"",
            ),
            (
                json!({"name": "X", "condition": {"all": [pro, {"attribute": "mrr", "op": "contains", "value": "1"}]}}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_condition",
                "all[1]",
            ),
            (
                json!({"name": "X", "condition": {"attribute": "plan", "op": "matches", "value": "(["}}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_condition",
                "regular expression",
            ),
            (
                json!({"name": "X", "condition": {"segment": 999, "op": "in"}}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_condition",
                "no segment has the id 999",
            ),
            (
                json!({"name": "", "condition": pro}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_segment",
                "`name`",
            ),
        ] {
            let res = api.post("/api/v1/segments", &body).await;
            let res = res.expect_error(status, code, &format!("POST {body}"));
            let message = res.json["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            assert!(message.contains(says), "[{}] {message}", api.db);
        }
        let all = api
            .get("/api/v1/segments")
            .await
            .expect(StatusCode::OK, "list")
            .json;
        let names: Vec<&str> = all["segments"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["name"].as_str())
            .collect();
        assert_eq!(names, ["Big Pro", "Pro"], "[{}]", api.db);

        // A segment may not come back to itself through another.
        let cycle = json!({"name": "Pro", "condition": {"segment": big_id, "op": "in"}});
        api.put(&format!("/api/v1/segments/{id}"), &cycle)
            .await
            .expect_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_condition",
                "a cycle",
            );
        let renamed = api
            .put(
                &format!("/api/v1/segments/{id}"),
                &json!({"name": "Pro plan", "description": "Paying", "condition": pro}),
            )
            .await
            .expect(StatusCode::OK, "replace")
            .json;
        assert_eq!(
            (renamed["name"].as_str(), renamed["description"].as_str()),
            (Some("Pro plan"), Some("Paying"))
        );
        assert_eq!(
            api.get(&format!("/api/v1/segments/{id}")).await.json["name"],
            "Pro plan"
        );

        // In use: refused with the names of the segments that use it.
        let res = api
            .delete(&format!("/api/v1/segments/{id}"))
            .await
            .expect_error(
                StatusCode::CONFLICT,
                "segment_in_use",
                "delete a used segment",
            );
        assert!(
            res.json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Big Pro"),
            "[{}]",
            api.db
        );
        api.delete(&format!("/api/v1/segments/{big_id}"))
            .await
            .expect(StatusCode::NO_CONTENT, "delete");
        api.delete(&format!("/api/v1/segments/{id}"))
            .await
            .expect(StatusCode::NO_CONTENT, "delete");
        api.get(&format!("/api/v1/segments/{id}"))
            .await
            .expect_error(StatusCode::NOT_FOUND, "segment_not_found", "gone");
        api.get("/api/v1/segments/not-a-number").await.expect_error(
            StatusCode::NOT_FOUND,
            "segment_not_found",
            "bad id",
        );
    }
}

#[tokio::test]
async fn segments_count_list_and_answer_membership() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        let d = db.name;
        for (id, plan, mrr) in [("s1", "Pro", 120), ("s2", "Free", 0), ("s3", "pro", 50)] {
            api.identify_ok(json!({"user_id": id, "attributes": {"plan": plan, "mrr": mrr}}))
                .await;
        }
        let pro = json!({"attribute": "plan", "op": "is", "value": "PRO"});
        let count = |c: Value| {
            let api = &api;
            async move {
                api.post("/api/v1/segments/count", &json!({ "condition": c }))
                    .await
                    .expect(StatusCode::OK, "count")
                    .json["count"]
                    .clone()
            }
        };
        assert_eq!(count(pro.clone()).await, 2, "[{d}] case-insensitive");
        assert_eq!(
            count(json!({"attribute": "plan", "op": "is", "value": "PRO", "case_sensitive": true}))
                .await,
            0,
            "[{d}]"
        );
        assert_eq!(
            count(json!({"any": [{"attribute": "mrr", "op": "gt", "value": 100}, {"attribute": "plan", "op": "matches", "value": "^Fr"}]}))
                .await,
            2,
            "[{d}] s1 by mrr, s2 by the regular expression"
        );
        assert_eq!(count(json!({"all": []})).await, 3, "[{d}] everyone");
        for (body, says) in [
            (
                json!({"condition": {"attribute": "mrr", "op": "contains", "value": "1"}}),
                "`contains` does not apply",
            ),
            (
                json!({"condition": {"all": [pro, {"attribute": "plan", "op": "is"}]}}),
                "all[1].value",
            ),
            (json!({"filter": pro}), "the body is {\"condition\""),
        ] {
            let res = api
                .post("/api/v1/segments/count", &body)
                .await
                .expect_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_condition",
                    "bad count",
                );
            let message = res.json["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains(says), "[{d}] {message}");
        }

        let id = api
            .post(
                "/api/v1/segments",
                &json!({"name": "Pro", "condition": pro}),
            )
            .await
            .expect(StatusCode::CREATED, "create")
            .json["id"]
            .as_i64()
            .unwrap();
        // A segment's users, a page at a time, and the same through `segment=`.
        let mut seen = Vec::new();
        let mut path = format!("/api/v1/segments/{id}/users?limit=1&sort=user_id");
        loop {
            let page = api
                .get(&path)
                .await
                .expect(StatusCode::OK, "segment users")
                .json;
            assert_eq!(page["total"], 2, "[{d}]");
            seen.extend(
                page["users"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|u| u["user_id"].clone()),
            );
            match page["next_cursor"].as_str() {
                Some(c) => {
                    path = format!("/api/v1/segments/{id}/users?limit=1&sort=user_id&cursor={c}")
                }
                None => break,
            }
        }
        assert_eq!(seen, [json!("s1"), json!("s3")], "[{d}]");
        let page = api
            .get(&format!("/api/v1/users?segment={id}&sort=-user_id"))
            .await
            .expect(StatusCode::OK, "users of a segment")
            .json;
        let ids: Vec<&str> = page["users"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|u| u["user_id"].as_str())
            .collect();
        assert_eq!(
            (ids, page["total"].clone()),
            (vec!["s3", "s1"], json!(2)),
            "[{d}]"
        );
        for path in [
            "/api/v1/users?segment=999",
            "/api/v1/segments/999/users",
            "/api/v1/segments/x/users",
        ] {
            api.get(path)
                .await
                .expect_error(StatusCode::NOT_FOUND, "segment_not_found", path);
        }

        // A user's segments, from the API and from the SDK.
        let of = |user: &'static str| {
            let api = &api;
            async move { api.get(&format!("/api/v1/users/{user}/segments")).await }
        };
        assert_eq!(
            of("s1").await.expect(StatusCode::OK, "segments of s1").json,
            json!({"segments": [{"id": id, "name": "Pro"}]}),
            "[{d}]"
        );
        assert_eq!(of("s2").await.json, json!({"segments": []}), "[{d}]");
        of("nobody")
            .await
            .expect_error(StatusCode::NOT_FOUND, "user_not_found", "unknown user");

        api.visit("j_visitorSEG01").await;
        let answer = |_: ()| api.sdk("/sdk/v1/segments", "j_visitorSEG01", json!({}));
        assert_eq!(
            answer(()).await.expect(StatusCode::OK, "SDK segments").json,
            json!({"segments": []}),
            "[{d}]"
        );
        api.sdk(
            "/sdk/v1/update",
            "j_visitorSEG01",
            json!({"attributes": {"plan": "pro"}}),
        )
        .await
        .expect(StatusCode::OK, "SDK update");
        assert_eq!(
            answer(()).await.json,
            json!({"segments": [{"id": id, "name": "Pro"}]}),
            "[{d}] the visitor's own segments, as of now"
        );
    }
}

#[tokio::test]
async fn personalize_renders_a_template_for_a_user() {
    for db in common::databases().await {
        let api = Api::new(&db).await;
        let d = db.name;
        api.identify_ok(json!({"user_id": "p1", "name": "Ana María López", "language": "es",
            "attributes": {"plan": "Pro", "renewal_date": "2026-06-15", "seats": 1200.5, "bio": "<script>x</script>"}}))
            .await;
        api.identify_ok(json!({"user_id": "p2", "attributes": {"other": 1}}))
            .await;
        let render = |user: &'static str, template: &'static str| {
            let api = &api;
            async move {
                api.post(
                    "/api/v1/personalize",
                    &json!({"user_id": user, "template": template}),
                )
                .await
            }
        };
        let r = render(
            "p1",
            "Hola {firstName}, tu plan {plan} se renueva el {renewal_date} ({seats} puestos) {bio}",
        )
        .await
        .expect(StatusCode::OK, "personalize")
        .json;
        assert_eq!(
            r,
            json!({"text": "Hola Ana, tu plan Pro se renueva el 15 jun 2026 (1200,5 puestos) <script>x</script>",
                   "missing": [], "unknown": []}),
            "[{d}] values in the user's language; the text is text (escaping is the shower's job)"
        );
        let r = render("p2", "Hi {firstName|there} {plan|} {shoe_size|?} {{ok}}")
            .await
            .expect(StatusCode::OK, "fallbacks")
            .json;
        assert_eq!(
            r,
            json!({"text": "Hi there  ? {ok}", "missing": ["firstName", "plan"], "unknown": ["shoe_size"]}),
            "[{d}]"
        );
        let e = render("p1", "Hi {firstName").await.expect_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_template",
            "unclosed",
        );
        assert!(
            e.json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("line 1, column 4"),
            "[{d}] {}",
            e.json
        );
        render("nobody", "x").await.expect_error(
            StatusCode::NOT_FOUND,
            "user_not_found",
            "unknown user",
        );
        api.post("/api/v1/personalize", &json!({"user_id": "p1"}))
            .await
            .expect_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_template",
                "no template",
            );
        api.post("/api/v1/personalize", &json!({"template": "x"}))
            .await
            .expect_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                "no user_id",
            );
        let long = "x".repeat(20_001);
        api.post(
            "/api/v1/personalize",
            &json!({"user_id": "p1", "template": long}),
        )
        .await
        .expect_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_template",
            "too long",
        );

        // The SDK renders for the visitor only.
        api.visit("j_visitorPERS1").await;
        let r = api
            .sdk(
                "/sdk/v1/personalize",
                "j_visitorPERS1",
                json!({"template": "{plan|none}", "user_id": "p1"}),
            )
            .await
            .expect(StatusCode::OK, "SDK personalize")
            .json;
        assert_eq!(r["text"], "none", "[{d}] never another user's data");
    }
}

#[tokio::test]
async fn receivers_map_tool_properties_and_log_what_they_refuse() {
    use base64::Engine;
    for db in common::databases().await {
        let api = Api::new(&db).await;
        let d = db.name;
        let ws = api.ws.id;
        let key_of = |kind: &'static str| {
            let store = api.store.clone();
            async move {
                store.set_integration(ws, kind, true).await.unwrap();
                store
                    .integrations(ws)
                    .await
                    .unwrap()
                    .into_iter()
                    .find(|i| i.kind == kind)
                    .unwrap()
                    .key
            }
        };
        let segment_key = key_of("segment").await;
        let basic = |key: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
            )
        };
        let segment = |auth: String, body: Value| {
            let api = &api;
            async move {
                api.send(
                    Request::builder()
                        .method(Method::POST)
                        .uri("/integrations/segment/v1/batch")
                        .header(header::CONTENT_TYPE, JSON)
                        .header(header::AUTHORIZATION, auth)
                        .body(Body::from(body.to_string()))
                        .unwrap(),
                )
                .await
            }
        };
        api.identify_ok(json!({"user_id": "r-email", "email": "only@example.com"}))
            .await;
        let res = segment(
            basic(&segment_key),
            json!({"batch": [
                {"type": "identify", "userId": "r1", "traits": {"First Name": "Ana", "address": {"city": "Lyon"}, "tags": ["a"], "seats": 3}},
                {"type": "track", "userId": "r1", "event": "Clicked"},
                {"type": "identify", "anonymousId": "x", "traits": {"email": "ONLY@example.com", "plan": "Pro"}},
                {"type": "identify", "anonymousId": "y", "traits": {"email": "nobody@example.com", "plan": "Pro"}},
                {"type": "identify", "userId": "r1", "traits": {"seats": "many"}},
            ]}),
        )
        .await
        .expect(StatusCode::OK, "Segment batch");
        assert_eq!(res.json, json!({"success": true}), "[{d}]");
        let r1 = api.get("/api/v1/users/r1").await.json;
        let attr = |u: &Value, n: &str| {
            u["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["name"] == n)
                .map(|a| (a["value"].clone(), a["source"].clone()))
        };
        assert_eq!(
            attr(&r1, "First_Name"),
            Some((json!("Ana"), json!("segment"))),
            "[{d}]"
        );
        assert_eq!(
            attr(&r1, "address.city"),
            Some((json!("Lyon"), json!("segment"))),
            "[{d}]"
        );
        assert_eq!(
            attr(&r1, "$tags"),
            Some((json!(["a"]), json!("segment"))),
            "[{d}]"
        );
        assert_eq!(
            attr(&r1, "seats"),
            Some((json!(3), json!("segment"))),
            "[{d}] the conflicting value changed nothing"
        );
        let by_email = api.get("/api/v1/users/r-email").await.json;
        assert_eq!(
            attr(&by_email, "plan"),
            Some((json!("Pro"), json!("segment"))),
            "[{d}] matched on email"
        );
        let seg = api
            .store
            .integrations(ws)
            .await
            .unwrap()
            .into_iter()
            .find(|i| i.kind == "segment")
            .unwrap();
        assert_eq!((seg.received, seg.rejected), (2, 2), "[{d}]");
        assert!(seg.last_received_at.is_some());
        let log: Vec<String> = api
            .store
            .integration_log(ws, "segment", 10)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        assert!(
            log.iter().any(|m| m.contains("nobody@example.com")),
            "[{d}] {log:?}"
        );
        assert!(
            log.iter().any(|m| m.contains("r1") && m.contains("seats")),
            "[{d}] {log:?}"
        );

        // Wrong or switched-off keys are refused; nothing is written.
        segment(
            basic("segment_nope"),
            json!({"userId": "r2", "traits": {"a": 1}}),
        )
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized", "wrong key");
        api.store
            .set_integration(ws, "segment", false)
            .await
            .unwrap();
        segment(
            basic(&segment_key),
            json!({"userId": "r2", "traits": {"a": 1}}),
        )
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized", "switched off");
        api.get("/api/v1/users/r2").await.expect_error(
            StatusCode::NOT_FOUND,
            "user_not_found",
            "not created",
        );

        // PostHog, gzipped as posthog-node sends it.
        let ph_key = key_of("posthog").await;
        let body = json!({"api_key": ph_key, "batch": [
            {"event": "$identify", "distinct_id": "r3", "properties": {"$set": {"plan": "Team", "old": 1}}},
            {"event": "x", "distinct_id": "r3", "properties": {"$set_once": {"plan": "no", "first": "Team"}, "$unset": ["old"]}},
        ]});
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, body.to_string().as_bytes()).unwrap();
        api.send(
            Request::builder()
                .method(Method::POST)
                .uri("/integrations/posthog/batch/")
                .header(header::CONTENT_TYPE, JSON)
                .header(header::CONTENT_ENCODING, "gzip")
                .body(Body::from(gz.finish().unwrap()))
                .unwrap(),
        )
        .await
        .expect(StatusCode::OK, "PostHog batch");
        let r3 = api.get("/api/v1/users/r3").await.json;
        assert_eq!(
            attr(&r3, "plan"),
            Some((json!("Team"), json!("posthog"))),
            "[{d}]"
        );
        assert_eq!(
            attr(&r3, "first"),
            Some((json!("Team"), json!("posthog"))),
            "[{d}]"
        );
        assert_eq!(attr(&r3, "old"), None, "[{d}] $unset");
    }
}
