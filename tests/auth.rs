//! Authentication and authorization against servers started with admins:
//! a matrix of users (anonymous, wrong password, plain user, member by
//! name, member by role, database admin, server admin) × endpoint
//! families, asserting CouchDB 3's statuses and bodies; then cookie
//! sessions, the users database, proxy and JWT authentication, lockout,
//! CORS, HTTPS and the startup rules.

use std::io::Write as _;
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::Method;
use serde_json::{json, Value};

const ADMIN_PW: &str = "admin pw:with colon";
const JWT_HMAC: &str = "jwt secret";
const PROXY_SECRET: &str = "proxy secret";

/// Starts a server on its own thread with this ini text (plus `extra`
/// command-line admins) and returns its URL (and HTTPS URL, if any).
fn start_with(ini: &str, admin_party: bool) -> (String, Option<String>) {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(ini.as_bytes()).expect("write ini");
    let path = file.into_temp_path().keep().expect("keep ini");
    let mut config = settee::config::Config::ephemeral();
    config.config_file = Some(path);
    config.admin_party = admin_party;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            match settee::Server::start(config).await {
                Ok(server) => {
                    tx.send(Ok((server.url(), server.tls_url())))
                        .expect("send url");
                    server.into_future().await.expect("server runs");
                }
                Err(e) => tx.send(Err(e.to_string())).expect("send error"),
            }
        });
    });
    rx.recv().expect("server started").expect("server starts")
}

fn rsa_public_one_line() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/jwt-rsa-public.pem"
    ))
    .expect("public key")
    .trim()
    .replace('\n', "\\n")
}

fn main_ini() -> String {
    format!(
        "[admins]\nadmin = {ADMIN_PW}\n\
         [chttpd_auth]\niterations = 10\nsecret = {PROXY_SECRET}\nproxy_use_secret = true\n\
         [chttpd_auth_lockout]\nthreshold = 1000\n\
         [chttpd]\nauthentication_handlers = {{chttpd_auth, jwt_authentication_handler}}, {{chttpd_auth, proxy_authentication_handler}}, {{chttpd_auth, cookie_authentication_handler}}, {{chttpd_auth, default_authentication_handler}}\nenable_cors = true\n\
         [cors]\norigins = http://app.example\ncredentials = true\n\
         [jwt_keys]\nhmac:_default = {}\nrsa:rsakid = {}\n",
        base64::engine::general_purpose::STANDARD.encode(JWT_HMAC),
        rsa_public_one_line(),
    )
}

/// The shared server of this module, with users and a secured database.
fn server() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(Fixture::new)
}

struct Fixture {
    url: String,
    db: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Anonymous,
    WrongPassword,
    Plain,
    MemberByName,
    MemberByRole,
    DbAdmin,
    ServerAdmin,
}

const EVERYONE: [Who; 7] = [
    Who::Anonymous,
    Who::WrongPassword,
    Who::Plain,
    Who::MemberByName,
    Who::MemberByRole,
    Who::DbAdmin,
    Who::ServerAdmin,
];

impl Who {
    fn credentials(self) -> Option<(&'static str, &'static str)> {
        match self {
            Who::Anonymous => None,
            Who::WrongPassword => Some(("member", "not the password")),
            Who::Plain => Some(("plain", "plain-pw")),
            Who::MemberByName => Some(("member", "member-pw")),
            Who::MemberByRole => Some(("reader", "reader-pw")),
            Who::DbAdmin => Some(("dba", "dba-pw")),
            Who::ServerAdmin => Some(("admin", ADMIN_PW)),
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Who::Anonymous => "anon",
            Who::WrongPassword => "wrong",
            Who::Plain => "plain",
            Who::MemberByName => "member",
            Who::MemberByRole => "reader",
            Who::DbAdmin => "dba",
            Who::ServerAdmin => "admin",
        }
    }
}

fn client() -> &'static Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    })
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn set_cookie(&self) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("AuthSession="))
            .map(str::to_string)
    }
}

fn send(rb: RequestBuilder) -> Reply {
    let r = rb.send().expect("request sent");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().unwrap_or_default();
    Reply {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

fn request(url: &str, who: Who, method: Method, path: &str, body: Option<&Value>) -> Reply {
    let mut rb = client().request(method, format!("{url}{path}"));
    if let Some((user, pw)) = who.credentials() {
        rb = rb.basic_auth(user, Some(pw));
    }
    if let Some(b) = body {
        rb = rb
            .header("Content-Type", "application/json")
            .body(b.to_string());
    }
    send(rb)
}

fn admin(url: &str, method: Method, path: &str, body: Option<&Value>) -> Reply {
    request(url, Who::ServerAdmin, method, path, body)
}

fn create_user(url: &str, name: &str, password: &str, roles: &[&str]) {
    let r = admin(
        url,
        Method::PUT,
        &format!("/_users/org.couchdb.user:{name}"),
        Some(&json!({"name": name, "password": password, "roles": roles, "type": "user"})),
    );
    assert_eq!(r.status, 201, "create user {name}: {}", r.body);
}

fn unique(tag: &str) -> String {
    format!("auth-{tag}-{}", uuid::Uuid::new_v4().simple())
}

impl Fixture {
    fn new() -> Fixture {
        let (url, _) = start_with(&main_ini(), false);
        create_user(&url, "plain", "plain-pw", &[]);
        create_user(&url, "member", "member-pw", &[]);
        create_user(&url, "reader", "reader-pw", &["readers"]);
        create_user(&url, "dba", "dba-pw", &[]);
        let db = unique("db");
        assert_eq!(
            admin(&url, Method::PUT, &format!("/{db}"), None).status,
            201
        );
        let sec = json!({"members": {"names": ["member"], "roles": ["readers"]}, "admins": {"names": ["dba"], "roles": []}});
        assert_eq!(
            admin(&url, Method::PUT, &format!("/{db}/_security"), Some(&sec)).status,
            200
        );
        let doc = json!({"v": 1, "_attachments": {"a.txt": {"content_type": "text/plain", "data": "aGVsbG8="}}});
        assert_eq!(
            admin(&url, Method::PUT, &format!("/{db}/doc1"), Some(&doc)).status,
            201
        );
        assert_eq!(
            admin(
                &url,
                Method::PUT,
                &format!("/{db}/_design/d"),
                Some(&json!({"views": {}}))
            )
            .status,
            201
        );
        assert_eq!(
            admin(
                &url,
                Method::PUT,
                &format!("/{db}/_local/l"),
                Some(&json!({"x": 1}))
            )
            .status,
            201
        );
        Fixture { url, db }
    }
}

/// What a request needs, and so what each user gets.
#[derive(Clone, Copy, Debug)]
enum Need {
    Anyone,
    ServerAdmin,
    Member,
    DbAdmin,
    CompactAdmin,
}

fn expected(need: Need, who: Who) -> Option<(u16, &'static str, &'static str)> {
    const NOT_AUTH_DB: (u16, &str, &str) = (
        401,
        "unauthorized",
        "You are not authorized to access this db.",
    );
    const NOT_ALLOWED_DB: (u16, &str, &str) =
        (403, "forbidden", "You are not allowed to access this db.");
    if who == Who::WrongPassword {
        return Some((401, "unauthorized", "Name or password is incorrect."));
    }
    match (need, who) {
        (Need::Anyone, _) => None,
        (_, Who::ServerAdmin) => None,
        (Need::ServerAdmin, _) => Some((401, "unauthorized", "You are not a server admin.")),
        (_, Who::Anonymous) => Some(NOT_AUTH_DB),
        (_, Who::Plain) => Some(NOT_ALLOWED_DB),
        (Need::Member, _) => None,
        (_, Who::DbAdmin) => None,
        (Need::DbAdmin, _) => Some((403, "forbidden", "You are not a db or server admin.")),
        (Need::CompactAdmin, _) => Some((401, "unauthorized", "You are not a server or db admin.")),
    }
}

/// Every endpoint family, for every kind of user.
#[test]
fn access_matrix() {
    let f = server();
    let db = &f.db;
    for who in EVERYONE {
        let t = who.tag();
        let sec = json!({"members": {"names": ["member"], "roles": ["readers"]}, "admins": {"names": ["dba"], "roles": []}});
        let cases: Vec<(Need, Method, String, Option<Value>, u16)> = vec![
            (Need::Anyone, Method::GET, "/".into(), None, 200),
            (Need::Anyone, Method::GET, "/_up".into(), None, 200),
            (Need::Anyone, Method::GET, "/_uuids".into(), None, 200),
            (Need::Anyone, Method::GET, "/_session".into(), None, 200),
            (
                Need::ServerAdmin,
                Method::GET,
                "/_all_dbs".into(),
                None,
                200,
            ),
            (
                Need::ServerAdmin,
                Method::POST,
                "/_dbs_info".into(),
                Some(json!({"keys": [db]})),
                200,
            ),
            (
                Need::ServerAdmin,
                Method::PUT,
                format!("/{}", unique(t)),
                None,
                201,
            ),
            (
                Need::ServerAdmin,
                Method::DELETE,
                format!("/{}", unique(t)),
                None,
                404,
            ),
            (Need::ServerAdmin, Method::GET, "/_config".into(), None, 400),
            (
                Need::ServerAdmin,
                Method::GET,
                "/_active_tasks".into(),
                None,
                200,
            ),
            (
                Need::ServerAdmin,
                Method::GET,
                "/_users/_all_docs".into(),
                None,
                200,
            ),
            (
                Need::ServerAdmin,
                Method::GET,
                "/_users/_changes".into(),
                None,
                200,
            ),
            (Need::Member, Method::GET, format!("/{db}"), None, 200),
            (
                Need::Member,
                Method::GET,
                format!("/{db}/_all_docs"),
                None,
                200,
            ),
            (
                Need::Member,
                Method::POST,
                format!("/{db}/_all_docs"),
                Some(json!({"keys": ["doc1"]})),
                200,
            ),
            (
                Need::Member,
                Method::GET,
                format!("/{db}/_design_docs"),
                None,
                200,
            ),
            (
                Need::Member,
                Method::GET,
                format!("/{db}/_changes"),
                None,
                200,
            ),
            (Need::Member, Method::GET, format!("/{db}/doc1"), None, 200),
            (
                Need::Member,
                Method::GET,
                format!("/{db}/doc1?open_revs=all"),
                None,
                200,
            ),
            (
                Need::Member,
                Method::GET,
                format!("/{db}/doc1/a.txt"),
                None,
                200,
            ),
            (
                Need::Member,
                Method::GET,
                format!("/{db}/_design/d"),
                None,
                200,
            ),
            (
                Need::Member,
                Method::PUT,
                format!("/{db}/new-{t}"),
                Some(json!({"by": t})),
                201,
            ),
            (
                Need::Member,
                Method::POST,
                format!("/{db}"),
                Some(json!({"by": t})),
                201,
            ),
            (
                Need::Member,
                Method::POST,
                format!("/{db}/_bulk_docs"),
                Some(json!({"docs": [{"_id": format!("bulk-{t}")}]})),
                201,
            ),
            (
                Need::Member,
                Method::POST,
                format!("/{db}/_bulk_get"),
                Some(json!({"docs": [{"id": "doc1"}]})),
                200,
            ),
            (
                Need::Member,
                Method::POST,
                format!("/{db}/_revs_diff"),
                Some(json!({"doc1": ["1-abc"]})),
                200,
            ),
            (
                Need::Member,
                Method::GET,
                format!("/{db}/_local/l"),
                None,
                200,
            ),
            (
                Need::Member,
                Method::PUT,
                format!("/{db}/_local/by-{t}"),
                Some(json!({"x": 1})),
                201,
            ),
            (
                Need::Member,
                Method::GET,
                format!("/{db}/_local_docs"),
                None,
                200,
            ),
            (
                Need::Member,
                Method::POST,
                format!("/{db}/_find"),
                Some(json!({"selector": {"v": 1}})),
                200,
            ),
            (
                Need::Member,
                Method::GET,
                format!("/{db}/_index"),
                None,
                200,
            ),
            (
                Need::DbAdmin,
                Method::POST,
                format!("/{db}/_index"),
                Some(json!({"index": {"fields": [t]}})),
                200,
            ),
            (
                Need::Member,
                Method::GET,
                format!("/{db}/_security"),
                None,
                200,
            ),
            (
                Need::Member,
                Method::GET,
                format!("/{db}/_revs_limit"),
                None,
                200,
            ),
            (
                Need::Member,
                Method::POST,
                format!("/{db}/_ensure_full_commit"),
                Some(json!({})),
                201,
            ),
            (
                Need::DbAdmin,
                Method::PUT,
                format!("/{db}/_security"),
                Some(sec),
                200,
            ),
            (
                Need::DbAdmin,
                Method::PUT,
                format!("/{db}/_revs_limit"),
                Some(json!(1000)),
                200,
            ),
            (
                Need::DbAdmin,
                Method::PUT,
                format!("/{db}/_design/by-{t}"),
                Some(json!({"views": {}})),
                201,
            ),
            (
                Need::DbAdmin,
                Method::PUT,
                format!("/{db}/_design/att-{t}/file.txt"),
                Some(json!("x")),
                201,
            ),
            (
                Need::CompactAdmin,
                Method::POST,
                format!("/{db}/_compact"),
                Some(json!({})),
                202,
            ),
        ];
        for (need, method, path, body, ok_status) in cases {
            let r = request(&f.url, who, method.clone(), &path, body.as_ref());
            match expected(need, who) {
                None => assert_eq!(r.status, ok_status, "{who:?} {method} {path}: {}", r.body),
                Some((status, error, reason)) => {
                    assert_eq!(r.status, status, "{who:?} {method} {path}: {}", r.body);
                    assert_eq!(
                        r.body,
                        json!({"error": error, "reason": reason}),
                        "{who:?} {method} {path}"
                    );
                }
            }
        }
    }
}

/// Design documents inside `_bulk_docs` are refused one by one; the
/// ordinary documents of the same request are written.
#[test]
fn design_docs_in_bulk_need_a_db_admin() {
    let f = server();
    let body = json!({"docs": [{"_id": "b1"}, {"_id": "_design/sneaky"}, {"_id": "b2"}]});
    let r = request(
        &f.url,
        Who::MemberByName,
        Method::POST,
        &format!("/{}/_bulk_docs", f.db),
        Some(&body),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let rows = r.body.as_array().expect("rows");
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["ok"], true);
    assert_eq!(
        rows[1],
        json!({"id": "_design/sneaky", "error": "forbidden", "reason": "You are not a db or server admin."})
    );
    assert_eq!(rows[2]["ok"], true);
    // POST /{db} with a design id, and COPY onto one, are checked too
    let r = request(
        &f.url,
        Who::MemberByName,
        Method::POST,
        &format!("/{}", f.db),
        Some(&json!({"_id": "_design/p"})),
    );
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (403, Some("forbidden"))
    );
    let r = send(
        client()
            .request(
                Method::from_bytes(b"COPY").expect("method"),
                format!("{}/{}/doc1", f.url, f.db),
            )
            .basic_auth("member", Some("member-pw"))
            .header("Destination", "_design/copied"),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = admin(
        &f.url,
        Method::GET,
        &format!("/{}/_design/copied", f.db),
        None,
    );
    assert_eq!(r.status, 404);
    // new_edits=false (replication) is no way around it
    let body = json!({"new_edits": false, "docs": [{"_id": "_design/repl", "_rev": "1-abc"}]});
    let r = request(
        &f.url,
        Who::MemberByRole,
        Method::POST,
        &format!("/{}/_bulk_docs", f.db),
        Some(&body),
    );
    assert_eq!(r.status, 201);
    assert_eq!(
        r.body,
        json!([{"id": "_design/repl", "error": "forbidden", "reason": "You are not a db or server admin."}])
    );
}

#[test]
fn session_info_reports_user_and_handler() {
    let f = server();
    let r = request(&f.url, Who::MemberByRole, Method::GET, "/_session", None);
    assert_eq!(
        r.body,
        json!({"ok": true, "userCtx": {"name": "reader", "roles": ["readers"]},
               "info": {"authentication_handlers": ["jwt", "proxy", "cookie", "default"], "authenticated": "default"}})
    );
    let r = request(&f.url, Who::Anonymous, Method::GET, "/_session", None);
    assert_eq!(r.body["userCtx"], json!({"name": null, "roles": []}));
    assert!(r.body["info"].get("authenticated").is_none());
    let r = request(
        &f.url,
        Who::Anonymous,
        Method::GET,
        "/_session?basic=true",
        None,
    );
    assert_eq!(
        (r.status, r.body["reason"].as_str()),
        (401, Some("Please login."))
    );
    let r = request(&f.url, Who::ServerAdmin, Method::GET, "/_session", None);
    assert_eq!(
        r.body["userCtx"],
        json!({"name": "admin", "roles": ["_admin"]})
    );
    // bad base64 is a 400 before anything else
    let r = send(
        client()
            .get(format!("{}/", f.url))
            .header("Authorization", "Basic x"),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["reason"],
        "Authorization header has invalid base64 value"
    );
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or("").to_string()
}

#[test]
fn cookie_login_with_json_or_form_then_logout() {
    let f = server();
    let r = send(
        client()
            .post(format!("{}/_session", f.url))
            .json(&json!({"name": "member", "password": "member-pw"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"ok": true, "name": "member", "roles": []}));
    let set = r.set_cookie().expect("cookie set");
    assert!(
        set.contains("; Version=1; Expires=") && set.contains("; Max-Age=600; Path=/; HttpOnly"),
        "{set}"
    );
    let cookie = cookie_value(&set);
    let r = send(
        client()
            .get(format!("{}/_session", f.url))
            .header("Cookie", &cookie),
    );
    assert_eq!(r.body["userCtx"], json!({"name": "member", "roles": []}));
    assert_eq!(r.body["info"]["authenticated"], "cookie");
    assert!(r.set_cookie().is_none(), "fresh cookies are not renewed");
    let r = send(
        client()
            .get(format!("{}/{}/doc1", f.url, f.db))
            .header("Cookie", &cookie),
    );
    assert_eq!(r.status, 200);
    // form body, `username` alias, and `next` redirect
    let r = send(
        client()
            .post(format!("{}/_session?next=/_up", f.url))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("username=reader&password=reader-pw"),
    );
    assert_eq!(r.status, 302);
    assert!(r.header("location").is_some_and(|l| l.ends_with("/_up")));
    assert!(r.set_cookie().is_some());
    // wrong password: 401 and a clearing cookie
    let r = send(
        client()
            .post(format!("{}/_session", f.url))
            .json(&json!({"name": "member", "password": "nope"})),
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        r.body,
        json!({"error": "unauthorized", "reason": "Name or password is incorrect."})
    );
    assert!(r
        .set_cookie()
        .is_some_and(|c| c.starts_with("AuthSession=;")));
    let r = send(
        client()
            .post(format!("{}/_session", f.url))
            .json(&json!({"name": "nobody", "password": "x"})),
    );
    assert_eq!(r.status, 401);
    // body errors
    let r = send(
        client()
            .post(format!("{}/_session", f.url))
            .json(&json!({"password": "x"})),
    );
    assert_eq!(
        (r.status, r.body["reason"].as_str()),
        (400, Some("request body must contain a username"))
    );
    let r = send(
        client()
            .post(format!("{}/_session", f.url))
            .json(&json!({"name": "a", "username": "b"})),
    );
    assert_eq!(
        (r.status, r.body["reason"].as_str()),
        (400, Some("request body contains different usernames"))
    );
    let r = send(
        client()
            .post(format!("{}/_session", f.url))
            .header("Content-Type", "text/plain")
            .body("x"),
    );
    assert_eq!(r.status, 415);
    assert_eq!(
        r.body["reason"],
        "Content-Type must be 'application/x-www-form-urlencoded' or 'application/json'"
    );
    // logout clears; a malformed cookie is a 400; a forged one is ignored
    let r = send(
        client()
            .delete(format!("{}/_session", f.url))
            .header("Cookie", &cookie),
    );
    assert_eq!(r.body, json!({"ok": true}));
    assert!(r
        .set_cookie()
        .is_some_and(|c| c.starts_with("AuthSession=;")));
    let r = send(
        client()
            .get(format!("{}/_session", f.url))
            .header("Cookie", "AuthSession=%%%"),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["reason"],
        "Malformed AuthSession cookie. Please clear your cookies."
    );
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode("admin:7FFFFFFF:0123456789abcdef0123456789abcdef");
    let r = send(
        client()
            .get(format!("{}/_all_dbs", f.url))
            .header("Cookie", format!("AuthSession={forged}")),
    );
    assert_eq!(r.status, 401);
}

#[test]
fn cookies_expire_and_are_renewed() {
    let (url, _) = start_with(
        &format!("[admins]\nadmin = {ADMIN_PW}\n[chttpd_auth]\niterations = 10\ntimeout = 4\n"),
        false,
    );
    // the login time, in seconds, that a cookie carries
    let stamp = |cookie: &str| {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cookie.trim_start_matches("AuthSession="))
            .expect("base64url");
        let text = String::from_utf8_lossy(&raw).into_owned();
        u64::from_str_radix(text.split(':').nth(1).expect("time"), 16).expect("hex")
    };
    // Cookie times are whole seconds: log in early in a second, so the
    // "fresh" request below is not a second boundary away from it.
    while std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .subsec_millis()
        > 300
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = send(
        client()
            .post(format!("{url}/_session"))
            .json(&json!({"name": "admin", "password": ADMIN_PW})),
    );
    let cookie = cookie_value(&r.set_cookie().expect("cookie"));
    let r = send(
        client()
            .get(format!("{url}/_all_dbs"))
            .header("Cookie", &cookie),
    );
    assert!(r.set_cookie().is_none(), "not renewed while fresh");
    // renewed once more than 10% of the timeout has passed
    while settee::auth::now_secs() < stamp(&cookie) + 1 {
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = send(
        client()
            .get(format!("{url}/_all_dbs"))
            .header("Cookie", &cookie),
    );
    assert_eq!(r.status, 200);
    let renewed = cookie_value(&r.set_cookie().expect("renewed after 10% of the timeout"));
    assert!(stamp(&renewed) > stamp(&cookie));
    // the first cookie expires at its login time + timeout, the renewed one later
    while settee::auth::now_secs() < stamp(&cookie) + 4 {
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = send(
        client()
            .get(format!("{url}/_all_dbs"))
            .header("Cookie", &cookie),
    );
    assert_eq!(r.status, 401, "the old cookie expired");
    let r = send(
        client()
            .get(format!("{url}/_all_dbs"))
            .header("Cookie", &renewed),
    );
    assert_eq!(r.status, 200, "the renewed one lives on");
}

#[test]
fn users_db_hashes_passwords_and_validates() {
    let f = server();
    let name = format!("u{}", uuid::Uuid::new_v4().simple());
    create_user(&f.url, &name, "secret", &["r1"]);
    let r = admin(
        &f.url,
        Method::GET,
        &format!("/_users/org.couchdb.user:{name}"),
        None,
    );
    let doc = &r.body;
    assert!(doc.get("password").is_none(), "{doc}");
    assert_eq!(doc["password_scheme"], "pbkdf2");
    assert_eq!(doc["pbkdf2_prf"], "sha256");
    assert_eq!(doc["iterations"], 10);
    assert_eq!(doc["salt"].as_str().map(str::len), Some(32));
    assert_eq!(doc["derived_key"].as_str().map(str::len), Some(64));
    let ok = send(
        client()
            .get(format!("{}/_session", f.url))
            .basic_auth(&name, Some("secret")),
    );
    assert_eq!(ok.body["userCtx"], json!({"name": name, "roles": ["r1"]}));
    // admins are validated too
    let bad = [
        (
            json!({"name": format!("{name}x"), "roles": []}),
            "doc.type must be user",
        ),
        (
            json!({"type": "user", "name": "other", "roles": []}),
            "Doc ID must be of the form org.couchdb.user:name",
        ),
        (
            json!({"type": "user", "name": format!("{name}x"), "roles": ["_admin"]}),
            "No system roles (starting with underscore) in users db.",
        ),
    ];
    for (body, reason) in bad {
        let r = admin(
            &f.url,
            Method::PUT,
            &format!("/_users/org.couchdb.user:{name}x"),
            Some(&body),
        );
        assert_eq!(r.status, 403, "{body}: {}", r.body);
        assert_eq!(r.body, json!({"error": "forbidden", "reason": reason}));
    }
    // CouchDB 3: the users database is admin-only; users cannot even read their own doc
    let r = send(
        client()
            .get(format!("{}/_users/org.couchdb.user:{name}", f.url))
            .basic_auth(&name, Some("secret")),
    );
    assert_eq!(r.status, 403);
    assert_eq!(r.body["reason"], "You are not allowed to access this db.");
    let r = request(
        &f.url,
        Who::Anonymous,
        Method::PUT,
        "/_users/org.couchdb.user:signup",
        Some(&json!({"type": "user", "name": "signup", "roles": [], "password": "x"})),
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        r.body["reason"],
        "You are not authorized to access this db."
    );
    // and its security object cannot be changed
    let r = admin(&f.url, Method::PUT, "/_users/_security", Some(&json!({})));
    assert_eq!(r.status, 403);
    assert_eq!(
        r.body["reason"],
        "You can't edit the security object of the user database."
    );
}

/// With `users_db_security_editable` and an open `_users`, the per-user
/// rules of CouchDB's users database apply.
#[test]
fn open_users_db_per_user_rules() {
    let (url, _) = start_with(
        &format!("[admins]\nadmin = {ADMIN_PW}\n[chttpd_auth]\niterations = 10\n[couchdb]\nusers_db_security_editable = true\n"),
        false,
    );
    assert_eq!(
        admin(&url, Method::PUT, "/_users/_security", Some(&json!({}))).status,
        200
    );
    let anon_put = |id: &str, body: Value| {
        request(
            &url,
            Who::Anonymous,
            Method::PUT,
            &format!("/_users/{id}"),
            Some(&body),
        )
    };
    let r = anon_put(
        "org.couchdb.user:tom",
        json!({"type": "user", "name": "tom", "roles": [], "password": "mp3"}),
    );
    assert_eq!(r.status, 201, "anonymous sign-up: {}", r.body);
    let r = anon_put(
        "org.couchdb.user:boss",
        json!({"type": "user", "name": "boss", "roles": ["x"], "password": "p"}),
    );
    assert_eq!(
        (r.status, r.body["reason"].as_str()),
        (403, Some("Only _admin may set roles"))
    );
    create_user(&url, "jerry", "cheese", &[]);
    let tom = |method: Method, path: &str, body: Option<Value>| {
        let mut rb = client()
            .request(method, format!("{url}{path}"))
            .basic_auth("tom", Some("mp3"));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        send(rb)
    };
    let own = tom(Method::GET, "/_users/org.couchdb.user:tom", None);
    assert_eq!(own.status, 200);
    assert!(own.body.get("password").is_none());
    let other = tom(Method::GET, "/_users/org.couchdb.user:jerry", None);
    assert_eq!(other.status, 404);
    assert_eq!(
        other.body,
        json!({"error": "not_found", "reason": "missing"})
    );
    let r = tom(
        Method::PUT,
        "/_users/org.couchdb.user:jerry",
        Some(json!({"type": "user", "name": "jerry", "roles": []})),
    );
    assert_eq!(r.status, 404);
    let r = tom(Method::GET, "/_users/_all_docs", None);
    assert_eq!(
        (r.status, r.body["reason"].as_str()),
        (401, Some("You are not a server admin."))
    );
    let r = tom(Method::GET, "/_users/_changes", None);
    assert_eq!(r.status, 401);
    assert_eq!(
        admin(&url, Method::PUT, "/_users/_design/x", Some(&json!({}))).status,
        201
    );
    let r = tom(Method::GET, "/_users/_design/x", None);
    assert_eq!(
        (r.status, r.body["reason"].as_str()),
        (
            403,
            Some("Only administrators can view design docs in the users database.")
        )
    );
    // own roles are fixed; the password may change, and the new one works
    let mut doc = own.body.clone();
    doc["roles"] = json!(["promoted"]);
    let r = tom(
        Method::PUT,
        "/_users/org.couchdb.user:tom",
        Some(doc.clone()),
    );
    assert_eq!(
        (r.status, r.body["reason"].as_str()),
        (403, Some("Only _admin may edit roles"))
    );
    doc["roles"] = json!([]);
    doc["password"] = json!("couch");
    let r = tom(Method::PUT, "/_users/org.couchdb.user:tom", Some(doc));
    assert_eq!(r.status, 201, "{}", r.body);
    let r = send(
        client()
            .get(format!("{url}/_session"))
            .basic_auth("tom", Some("couch")),
    );
    assert_eq!(r.body["userCtx"]["name"], "tom");
    let r = send(
        client()
            .get(format!("{url}/_session"))
            .basic_auth("tom", Some("mp3")),
    );
    assert_eq!(r.status, 401, "the old password is gone");
}

#[test]
fn proxy_authentication_needs_the_token() {
    let f = server();
    let token = |name: &str| {
        use hmac::Mac as _;
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(PROXY_SECRET.as_bytes()).expect("key");
        mac.update(name.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    };
    let get = |headers: &[(&str, String)]| {
        let mut rb = client().get(format!("{}/_session", f.url));
        for (k, v) in headers {
            rb = rb.header(*k, v);
        }
        send(rb)
    };
    let r = get(&[
        ("X-Auth-CouchDB-UserName", "proxied".into()),
        ("X-Auth-CouchDB-Roles", "readers, ops".into()),
        ("X-Auth-CouchDB-Token", token("proxied")),
    ]);
    assert_eq!(
        r.body["userCtx"],
        json!({"name": "proxied", "roles": ["readers", "ops"]})
    );
    assert_eq!(r.body["info"]["authenticated"], "proxy");
    let r = get(&[
        ("X-Auth-CouchDB-UserName", "proxied".into()),
        ("X-Auth-CouchDB-Token", token("other")),
    ]);
    assert_eq!(
        r.body["userCtx"],
        json!({"name": null, "roles": []}),
        "a wrong token is no login"
    );
    let r = get(&[
        ("X-Auth-CouchDB-UserName", "admin".into()),
        ("X-Auth-CouchDB-Roles", "_admin".into()),
    ]);
    assert_eq!(
        r.body["userCtx"]["name"],
        Value::Null,
        "no token, no proxy login"
    );
}

#[test]
fn jwt_bearer_tokens() {
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    let f = server();
    let now = settee::auth::now_secs();
    let bearer = |token: &str| {
        send(
            client()
                .get(format!("{}/_session", f.url))
                .bearer_auth(token),
        )
    };
    let hs = encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": "jwt-user", "exp": now + 60, "_couchdb.roles": ["readers"]}),
        &EncodingKey::from_secret(JWT_HMAC.as_bytes()),
    )
    .expect("token");
    let r = bearer(&hs);
    assert_eq!(
        r.body["userCtx"],
        json!({"name": "jwt-user", "roles": ["readers"]})
    );
    assert_eq!(r.body["info"]["authenticated"], "jwt");
    let r = send(
        client()
            .get(format!("{}/{}/doc1", f.url, f.db))
            .bearer_auth(&hs),
    );
    assert_eq!(r.status, 200, "a member by role through JWT");
    let private = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/jwt-rsa-private.pem"
    ))
    .expect("key");
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsakid".into());
    let rs = encode(
        &header,
        &json!({"sub": "rsa-user", "exp": now + 60}),
        &EncodingKey::from_rsa_pem(&private).expect("rsa"),
    )
    .expect("token");
    assert_eq!(bearer(&rs).body["userCtx"]["name"], "rsa-user");
    let expired = encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": "x", "exp": now - 5}),
        &EncodingKey::from_secret(JWT_HMAC.as_bytes()),
    )
    .expect("token");
    let r = bearer(&expired);
    assert_eq!(
        (r.status, r.body.clone()),
        (
            401,
            json!({"error": "unauthorized", "reason": "exp not in future"})
        )
    );
    let forged = encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": "admin", "exp": now + 60, "_couchdb.roles": ["_admin"]}),
        &EncodingKey::from_secret(b"guess"),
    )
    .expect("token");
    let r = bearer(&forged);
    assert_eq!(
        (r.status, r.body.clone()),
        (400, json!({"error": "bad_request", "reason": "Bad HMAC"}))
    );
}

#[test]
fn failed_logins_lock_the_account_out() {
    let (url, _) = start_with(&format!("[admins]\nadmin = {ADMIN_PW}\n[chttpd_auth]\niterations = 10\n[chttpd_auth_lockout]\nthreshold = 3\n"), false);
    for _ in 0..3 {
        let r = send(
            client()
                .get(format!("{url}/_all_dbs"))
                .basic_auth("admin", Some("guess")),
        );
        assert_eq!(r.status, 401);
    }
    for pw in ["guess", ADMIN_PW] {
        let r = send(
            client()
                .get(format!("{url}/_all_dbs"))
                .basic_auth("admin", Some(pw)),
        );
        assert_eq!(r.status, 403);
        assert_eq!(
            r.body["reason"],
            "Account is temporarily locked due to multiple authentication failures"
        );
    }
    let r = send(
        client()
            .post(format!("{url}/_session"))
            .json(&json!({"name": "admin", "password": ADMIN_PW})),
    );
    assert_eq!(r.status, 403, "cookie logins are locked out too");
}

#[test]
fn cors_preflight_and_response_headers() {
    let f = server();
    let r = send(
        client()
            .request(Method::OPTIONS, format!("{}/{}/doc1", f.url, f.db))
            .header("Origin", "http://app.example")
            .header("Access-Control-Request-Method", "PUT")
            .header(
                "Access-Control-Request-Headers",
                "content-type, authorization",
            ),
    );
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://app.example")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("content-type, authorization")
    );
    assert!(r
        .header("access-control-allow-methods")
        .is_some_and(|m| m.contains("PUT")));
    let r = send(
        client()
            .get(format!("{}/{}/doc1", f.url, f.db))
            .header("Origin", "http://app.example")
            .basic_auth("member", Some("member-pw")),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://app.example")
    );
    assert!(r
        .header("access-control-expose-headers")
        .is_some_and(|h| h.starts_with("content-type") && h.contains("etag")));
    // errors carry them too, so a browser can read the 401
    let r = send(
        client()
            .get(format!("{}/{}/doc1", f.url, f.db))
            .header("Origin", "http://app.example"),
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://app.example")
    );
    let r = send(
        client()
            .get(format!("{}/", f.url))
            .header("Origin", "http://evil.example"),
    );
    assert!(r.header("access-control-allow-origin").is_none());
    let r = send(
        client()
            .request(Method::OPTIONS, format!("{}/", f.url))
            .header("Origin", "http://evil.example")
            .header("Access-Control-Request-Method", "GET"),
    );
    assert_ne!(r.status, 204);
}

#[test]
fn https_with_configured_certificate() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let (http_url, https_url) = start_with(
        &format!("[admins]\nadmin = {ADMIN_PW}\n[chttpd_auth]\niterations = 10\n[ssl]\nport = 0\ncert_file = {data}/tls-cert.pem\nkey_file = {data}/tls-key.pem\n"),
        false,
    );
    let https_url = https_url.expect("HTTPS listener");
    assert!(https_url.starts_with("https://"));
    let cert = reqwest::Certificate::from_pem(
        &std::fs::read(format!("{data}/tls-cert.pem")).expect("cert"),
    )
    .expect("pem");
    let tls = Client::builder()
        .add_root_certificate(cert)
        .build()
        .expect("client");
    let r = tls
        .get(format!("{https_url}/_session"))
        .basic_auth("admin", Some(ADMIN_PW))
        .send()
        .expect("https request");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().expect("json");
    assert_eq!(body["userCtx"]["name"], "admin");
    // cookies made over HTTPS are Secure
    let r = tls
        .post(format!("{https_url}/_session"))
        .json(&json!({"name": "admin", "password": ADMIN_PW}))
        .send()
        .expect("login");
    let set = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(set.contains("; Secure"), "{set}");
    // Location names the HTTPS scheme
    let db = format!("tls-{}", uuid::Uuid::new_v4().simple());
    let r = tls
        .put(format!("{https_url}/{db}"))
        .basic_auth("admin", Some(ADMIN_PW))
        .send()
        .expect("create db");
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().expect("location");
    assert_eq!(location, format!("{https_url}/{db}"));
    // a raw `"` in the query, as curl sends it, through TLS
    let raw = raw_tls_get(&https_url, &format!(r#"/_all_dbs?startkey="{db}""#));
    assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw}");
    assert!(raw.contains(&format!(r#"["{db}"]"#)), "{raw}");
    assert_eq!(
        send(client().get(format!("{http_url}/"))).status,
        200,
        "plain HTTP stays on its own port"
    );
}

/// One raw request over TLS (trusting the test certificate), as a
/// server admin; the whole answer as text.
fn raw_tls_get(https_url: &str, target: &str) -> String {
    use std::io::Read as _;
    use std::sync::Arc;

    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::CertificateDer;

    let cert = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tls-cert.pem");
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert).expect("cert") {
        roots.add(c.expect("pem")).expect("root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = "localhost".try_into().expect("server name");
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let addr = https_url.trim_start_matches("https://");
    let sock = std::net::TcpStream::connect(addr).expect("connect");
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("admin:{ADMIN_PW}"));
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic {auth}\r\nConnection: close\r\n\r\n"
    );
    tls.write_all(request.as_bytes()).expect("send");
    let mut answer = Vec::new();
    // the server may close without close_notify: keep what was read
    let _ = tls.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn startup_refuses_without_admins_and_hashes_plain_passwords() {
    let bin = env!("CARGO_BIN_EXE_settee");
    let out = std::process::Command::new(bin)
        .args(["--port", "0", "--in-memory"])
        .env_remove("SETTEE_ADMIN")
        .output()
        .expect("runs");
    assert!(
        !out.status.success(),
        "must refuse to start without an admin"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--admin-party"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // a plain password in the config file is replaced by its hash
    let mut file = tempfile::NamedTempFile::new().expect("temp");
    file.write_all(b"; mine\n[admins]\nroot = plain-text-pw\n[chttpd_auth]\niterations = 10\n")
        .expect("write");
    let path = file.into_temp_path();
    let mut config = settee::config::Config::ephemeral();
    config.admin_party = false;
    config.config_file = Some(path.to_path_buf());
    let settings = settee::settings::Runtime::start(&config).expect("loads");
    assert!(settings
        .snapshot()
        .auth
        .settings
        .admins
        .contains_key("root"));
    let text = std::fs::read_to_string(&path).expect("read back");
    assert!(!text.contains("plain-text-pw"), "{text}");
    assert!(
        text.contains("root = -pbkdf2:sha256-") && text.starts_with("; mine\n"),
        "{text}"
    );
    // the admin party is explicit and then everyone is an admin
    let (url, _) = start_with("", true);
    let r = send(client().get(format!("{url}/_session")));
    assert_eq!(
        r.body["userCtx"],
        json!({"name": null, "roles": ["_admin"]})
    );
    assert_eq!(send(client().put(format!("{url}/party"))).status, 201);
    let r = send(client().get(format!("{url}/_users")));
    assert_eq!(r.status, 200, "_users is created at startup");
}

#[test]
fn default_security_everyone_makes_new_databases_public() {
    let (url, _) = start_with(&format!("[admins]\nadmin = {ADMIN_PW}\n[chttpd_auth]\niterations = 10\n[couchdb]\ndefault_security = everyone\n"), false);
    assert_eq!(admin(&url, Method::PUT, "/open", None).status, 201);
    assert_eq!(
        admin(&url, Method::GET, "/open/_security", None).body,
        json!({})
    );
    assert_eq!(
        request(
            &url,
            Who::Anonymous,
            Method::PUT,
            "/open/doc",
            Some(&json!({}))
        )
        .status,
        201
    );
    let r = request(
        &url,
        Who::Anonymous,
        Method::PUT,
        "/open/_design/d",
        Some(&json!({})),
    );
    assert_eq!(
        (r.status, r.body["reason"].as_str()),
        (401, Some("You are not a db or server admin."))
    );
}

/// The authentication database carries its rules in `_design/_auth`, as
/// CouchDB's auth cache keeps it: the design document is there from the
/// start and after the database is re-created; without it user documents
/// are not checked; deleting the followed database moves the rules to the
/// database configured now. `password_regexp` requirements are CouchDB's.
#[test]
fn users_rules_follow_design_auth() {
    let ini = "[admins]\nadm = pass\n[chttpd_auth]\niterations = 10\n";
    let (url, _) = start_with(ini, false);
    let as_admin = |method: Method, path: &str, body: Option<Value>| {
        let mut rb = client()
            .request(method, format!("{url}{path}"))
            .basic_auth("adm", Some("pass"));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        send(rb)
    };
    let ddoc = as_admin(Method::GET, "/_users/_design/_auth", None);
    assert_eq!(ddoc.status, 200, "{}", ddoc.body);
    assert_eq!(ddoc.body["language"], "javascript");
    assert!(ddoc.body["validate_doc_update"]
        .as_str()
        .unwrap()
        .contains("doc.type must be user"));
    // re-created: the design document comes back
    assert_eq!(as_admin(Method::DELETE, "/_users", None).status, 200);
    assert_eq!(as_admin(Method::PUT, "/_users", None).status, 201);
    let ddoc = as_admin(Method::GET, "/_users/_design/_auth", None);
    assert_eq!(ddoc.status, 200);
    let untyped = json!({"name": "tom", "roles": [], "password": "x"});
    let r = as_admin(
        Method::PUT,
        "/_users/org.couchdb.user:tom",
        Some(untyped.clone()),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    // removed: nothing is checked, passwords are still hashed
    let rev = ddoc.body["_rev"].as_str().unwrap();
    as_admin(
        Method::DELETE,
        &format!("/_users/_design/_auth?rev={rev}"),
        None,
    );
    let r = as_admin(Method::PUT, "/_users/org.couchdb.user:tom", Some(untyped));
    assert_eq!(r.status, 201, "{}", r.body);
    let tom = as_admin(Method::GET, "/_users/org.couchdb.user:tom", None).body;
    assert!(tom.get("password").is_none() && tom["derived_key"].is_string());
    // a new authentication database gets the rules once the old one goes
    assert_eq!(as_admin(Method::PUT, "/auth2", None).status, 201);
    as_admin(
        Method::PUT,
        "/_node/_local/_config/chttpd_auth/authentication_db",
        Some(json!("auth2")),
    );
    assert_eq!(
        as_admin(Method::GET, "/auth2/_design/_auth", None).status,
        404
    );
    assert_eq!(as_admin(Method::DELETE, "/_users", None).status, 200);
    assert_eq!(
        as_admin(Method::GET, "/auth2/_design/_auth", None).status,
        200
    );
    // password requirements
    as_admin(
        Method::PUT,
        "/_node/_local/_config/chttpd_auth/password_regexp",
        Some(json!(r#"[{".{10,}"}, {"[A-Z]+", "Requirement 2."}]"#)),
    );
    let user =
        |password: &str| json!({"type": "user", "name": "jan", "roles": [], "password": password});
    let r = as_admin(
        Method::PUT,
        "/auth2/org.couchdb.user:jan",
        Some(user("short")),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        json!({"error": "bad_request", "reason": "Password does not conform to requirements."})
    );
    let r = as_admin(
        Method::PUT,
        "/auth2/org.couchdb.user:jan",
        Some(user("long enough")),
    );
    assert_eq!(
        r.body["reason"],
        "Password does not conform to requirements. Requirement 2."
    );
    let r = as_admin(
        Method::PUT,
        "/auth2/org.couchdb.user:jan",
        Some(user("Long enough")),
    );
    assert_eq!(r.status, 201, "{}", r.body);
}
