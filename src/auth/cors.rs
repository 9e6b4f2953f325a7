//! CORS as CouchDB's `chttpd_cors` answers it, from `[cors]` settings:
//! preflight `OPTIONS` requests from an accepted origin get `204` with the
//! allowed methods and the requested headers (before any authentication);
//! other requests from an accepted origin get `Access-Control-Allow-Origin`
//! (the origin, lowercased), `Access-Control-Allow-Credentials` when
//! configured, and `Access-Control-Expose-Headers`.

use super::settings::CorsSettings;

/// Headers of the CORS simple-response list (`?SIMPLE_HEADERS`).
const SIMPLE_HEADERS: [&str; 6] = [
    "cache-control",
    "content-language",
    "content-type",
    "expires",
    "last-modified",
    "pragma",
];

fn accepts(cfg: &CorsSettings, origin: &str) -> bool {
    cfg.origins.iter().any(|o| o == "*" || o == origin)
}

fn credentials(cfg: &CorsSettings, origin: &str) -> bool {
    origin != "*" && cfg.credentials
}

/// The headers of a `204` answer to a preflight request, or `None` when
/// it is not one CouchDB answers (then it is handled as a plain request).
pub fn preflight(
    cfg: &CorsSettings,
    origin: Option<&str>,
    request_method: Option<&str>,
    request_headers: Option<&str>,
) -> Option<Vec<(&'static str, String)>> {
    if !cfg.enabled {
        return None;
    }
    let origin = origin?;
    if !accepts(cfg, origin) {
        return None;
    }
    let method = request_method?;
    if !cfg.methods.iter().any(|m| m == method) {
        return None;
    }
    let asked = request_headers.unwrap_or("");
    let wanted: Vec<String> = asked
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    if wanted.iter().any(|h| !cfg.headers.contains(h)) {
        return None;
    }
    let mut out = vec![
        ("Access-Control-Allow-Origin", origin.to_string()),
        ("Access-Control-Max-Age", cfg.max_age.clone()),
        ("Access-Control-Allow-Methods", cfg.methods.join(", ")),
    ];
    if credentials(cfg, origin) {
        out.push(("Access-Control-Allow-Credentials", "true".into()));
    }
    out.push(("Access-Control-Allow-Headers", asked.to_string()));
    Some(out)
}

/// Headers to add to an ordinary response, given the names of the headers
/// it already has (in order).
pub fn response_headers(
    cfg: &CorsSettings,
    origin: Option<&str>,
    present: &[String],
) -> Vec<(&'static str, String)> {
    let Some(origin) = origin.filter(|_| cfg.enabled) else {
        return Vec::new();
    };
    let origin = origin.to_ascii_lowercase();
    if cfg.origins.is_empty() || !accepts(cfg, &origin) {
        return Vec::new();
    }
    let mut out = vec![("Access-Control-Allow-Origin", origin.clone())];
    if credentials(cfg, &origin) {
        out.push(("Access-Control-Allow-Credentials", "true".into()));
    }
    let mut exposed: Vec<String> = vec!["content-type".into()];
    for name in present {
        let name = name.to_ascii_lowercase();
        if SIMPLE_HEADERS.contains(&name.as_str()) && !exposed.contains(&name) {
            exposed.push(name);
        }
    }
    exposed.extend(cfg.exposed_headers.iter().cloned());
    out.push(("Access-Control-Expose-Headers", exposed.join(", ")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::settings::Settings;
    use crate::ini::Ini;

    fn cfg(extra: &str) -> CorsSettings {
        let ini = Ini::parse(&format!("[chttpd]\nenable_cors = true\n[cors]\n{extra}"));
        Settings::load(&ini, &[], true)
            .map(|l| l.settings.cors)
            .expect("settings")
    }

    #[test]
    fn preflight_from_accepted_origin() {
        let c = cfg("origins = http://app.example\ncredentials = true\n");
        let h = preflight(
            &c,
            Some("http://app.example"),
            Some("PUT"),
            Some("Content-Type, Authorization"),
        )
        .expect("answered");
        assert_eq!(
            h[0],
            ("Access-Control-Allow-Origin", "http://app.example".into())
        );
        assert_eq!(h[1], ("Access-Control-Max-Age", "600".into()));
        assert_eq!(
            h[2],
            (
                "Access-Control-Allow-Methods",
                "CONNECT, COPY, DELETE, GET, HEAD, OPTIONS, POST, PUT, TRACE".into()
            )
        );
        assert_eq!(h[3], ("Access-Control-Allow-Credentials", "true".into()));
        assert_eq!(
            h[4],
            (
                "Access-Control-Allow-Headers",
                "Content-Type, Authorization".into()
            )
        );
        assert!(preflight(&c, Some("http://evil.example"), Some("PUT"), None).is_none());
        assert!(preflight(&c, Some("http://app.example"), None, None).is_none());
        assert!(preflight(
            &c,
            Some("http://app.example"),
            Some("PUT"),
            Some("x-secret")
        )
        .is_none());
        assert!(preflight(&c, None, Some("PUT"), None).is_none());
    }

    #[test]
    fn wildcard_never_sends_credentials_for_star_and_disabled_sends_nothing() {
        let c = cfg("origins = *\ncredentials = true\nmethods = GET, POST\n");
        let h = preflight(&c, Some("*"), Some("GET"), None).expect("answered");
        assert!(!h
            .iter()
            .any(|(k, _)| *k == "Access-Control-Allow-Credentials"));
        assert!(
            preflight(&c, Some("http://x"), Some("PUT"), None).is_none(),
            "method not allowed"
        );
        let off = CorsSettings {
            enabled: false,
            ..c
        };
        assert!(preflight(&off, Some("http://x"), Some("GET"), None).is_none());
        assert!(response_headers(&off, Some("http://x"), &[]).is_empty());
    }

    #[test]
    fn response_headers_expose_content_type_first() {
        let c = cfg("origins = http://app.example\n");
        let present = vec![
            "Cache-Control".to_string(),
            "Content-Type".to_string(),
            "ETag".to_string(),
        ];
        let h = response_headers(&c, Some("HTTP://App.Example"), &present);
        assert_eq!(
            h[0],
            ("Access-Control-Allow-Origin", "http://app.example".into())
        );
        assert_eq!(
            h[1],
            ("Access-Control-Expose-Headers",
             "content-type, cache-control, accept-ranges, etag, server, x-couch-request-id, x-couch-update-newrev, x-couchdb-body-time".into())
        );
        assert!(response_headers(&c, Some("http://other"), &present).is_empty());
        assert!(response_headers(&c, None, &present).is_empty());
    }
}
