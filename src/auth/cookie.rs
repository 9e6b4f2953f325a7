//! `AuthSession` cookies as CouchDB builds them.
//!
//! The value is base64url (no padding) of `NAME:HEXTIME:MAC`, where HEXTIME
//! is the login time in seconds as uppercase hex and MAC the raw HMAC of
//! `NAME:HEXTIME` keyed with the server secret followed by the user's salt,
//! with the first of `[chttpd_auth] hash_algorithms` (default `sha256,
//! sha`); any of them verifies. A cookie is good until HEXTIME + timeout,
//! and is renewed on a request made after 10% of the timeout has passed.
//! [`set_cookie`] renders the header as mochiweb does.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::password::{constant_time_eq, Prf};

/// A cookie's parts, before checking its MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCookie {
    pub name: String,
    pub time_hex: String,
    pub mac: Vec<u8>,
}

/// `400 bad_request`: the cookie is not base64url of three `:`-parts.
pub const MALFORMED: &str = "Malformed AuthSession cookie. Please clear your cookies.";

/// Splits an `AuthSession` value; `Err` when CouchDB calls it malformed.
pub fn parse(value: &str) -> Result<SessionCookie, &'static str> {
    let raw = URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('=').as_bytes())
        .map_err(|_| MALFORMED)?;
    let first = raw.iter().position(|b| *b == b':').ok_or(MALFORMED)?;
    let second = raw[first + 1..]
        .iter()
        .position(|b| *b == b':')
        .ok_or(MALFORMED)?
        + first
        + 1;
    Ok(SessionCookie {
        name: String::from_utf8_lossy(&raw[..first]).into_owned(),
        time_hex: String::from_utf8_lossy(&raw[first + 1..second]).into_owned(),
        mac: raw[second + 1..].to_vec(),
    })
}

fn key(secret: &[u8], salt: &str) -> Vec<u8> {
    let mut k = secret.to_vec();
    k.extend_from_slice(salt.as_bytes());
    k
}

/// A new cookie value for `name`, made at `now` (seconds).
pub fn make(name: &str, now: u64, secret: &[u8], salt: &str, alg: Prf) -> String {
    let data = format!("{name}:{now:X}");
    let mac = alg.hmac(&key(secret, salt), data.as_bytes());
    let mut raw = data.into_bytes();
    raw.push(b':');
    raw.extend_from_slice(&mac);
    URL_SAFE_NO_PAD.encode(raw)
}

/// What a valid cookie tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Valid {
    /// Renew it: more than 10% of the timeout has passed.
    pub renew: bool,
}

/// Checks time and MAC; `None` when the cookie does not authenticate (it
/// is then ignored, as CouchDB ignores it).
pub fn verify(
    cookie: &SessionCookie,
    now: u64,
    timeout: u64,
    secret: &[u8],
    salt: &str,
    algs: &[Prf],
) -> Option<Valid> {
    let stamp = u64::from_str_radix(&cookie.time_hex, 16).ok()?;
    let expires = stamp.checked_add(timeout)?;
    if now >= expires {
        return None;
    }
    let data = format!("{}:{}", cookie.name, cookie.time_hex);
    let k = key(secret, salt);
    let ok = algs
        .iter()
        .filter(|a| a.output_len() == cookie.mac.len())
        .any(|a| constant_time_eq(&a.hmac(&k, data.as_bytes()), &cookie.mac));
    ok.then(|| Valid {
        renew: ((expires - now) as f64) < timeout as f64 * 0.9,
    })
}

/// Attributes of the `Set-Cookie` header.
#[derive(Debug, Clone, Default)]
pub struct Attributes {
    /// `Max-Age` (and `Expires`), when persistent cookies are allowed.
    pub max_age: Option<u64>,
    pub secure: bool,
    pub domain: Option<String>,
    /// `Lax`, `Strict` or `None`.
    pub same_site: Option<&'static str>,
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Wdy, DD-Mon-YYYY HH:MM:SS GMT` (RFC 2109 cookie dates, as mochiweb).
pub fn cookie_date(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // civil-from-days (Howard Hinnant's algorithm), days since 1970-01-01
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {:02}-{}-{:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The `Set-Cookie` value: `AuthSession=V; Version=1; Expires=…; Max-Age=…;
/// Secure; Domain=…; Path=/; HttpOnly; SameSite=…`. An empty value clears.
pub fn set_cookie(value: &str, attrs: &Attributes, now: u64) -> String {
    let mut out = format!("AuthSession={value}; Version=1");
    if let Some(age) = attrs.max_age {
        out.push_str(&format!(
            "; Expires={}; Max-Age={age}",
            cookie_date(now + age)
        ));
    }
    if attrs.secure {
        out.push_str("; Secure");
    }
    if let Some(domain) = &attrs.domain {
        out.push_str(&format!("; Domain={domain}"));
    }
    out.push_str("; Path=/; HttpOnly");
    if let Some(same_site) = attrs.same_site {
        out.push_str(&format!("; SameSite={same_site}"));
    }
    out
}

/// The `AuthSession` value among a request's `Cookie` headers.
pub fn from_cookie_header(header: &str) -> Option<&str> {
    header.split([';', ',']).find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k.trim() == "AuthSession").then(|| v.trim().trim_matches('"'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"4e2c3d0a9f1b4e2c3d0a9f1b4e2c3d0a";

    #[test]
    fn make_parse_verify_round_trip() {
        let value = make("jan", 0x5F5E_1000, SECRET, "salty", Prf::Sha256);
        let cookie = parse(&value).expect("parses");
        assert_eq!(cookie.name, "jan");
        assert_eq!(cookie.time_hex, "5F5E1000");
        assert_eq!(cookie.mac.len(), 32);
        let algs = [Prf::Sha256, Prf::Sha1];
        let t0 = 0x5F5E_1000;
        assert_eq!(
            verify(&cookie, t0, 600, SECRET, "salty", &algs),
            Some(Valid { renew: false })
        );
        assert_eq!(
            verify(&cookie, t0 + 59, 600, SECRET, "salty", &algs),
            Some(Valid { renew: false })
        );
        assert_eq!(
            verify(&cookie, t0 + 61, 600, SECRET, "salty", &algs),
            Some(Valid { renew: true })
        );
        assert_eq!(
            verify(&cookie, t0 + 600, 600, SECRET, "salty", &algs),
            None,
            "expired"
        );
        assert_eq!(
            verify(&cookie, t0, 600, SECRET, "other salt", &algs),
            None,
            "password changed"
        );
        assert_eq!(
            verify(&cookie, t0, 600, b"other secret", "salty", &algs),
            None
        );
        assert_eq!(
            verify(&cookie, t0, 600, SECRET, "salty", &[Prf::Sha1]),
            None,
            "algorithm not accepted"
        );
    }

    #[test]
    fn sha1_cookies_from_older_servers_verify() {
        let value = make("jan", 100, SECRET, "", Prf::Sha1);
        let cookie = parse(&value).expect("parses");
        assert_eq!(cookie.mac.len(), 20);
        assert!(verify(&cookie, 100, 600, SECRET, "", &[Prf::Sha256, Prf::Sha1]).is_some());
    }

    #[test]
    fn tampering_fails_and_garbage_is_malformed() {
        let value = make("jan", 100, SECRET, "s", Prf::Sha256);
        let cookie = parse(&value).expect("parses");
        let forged = SessionCookie {
            name: "admin".into(),
            ..cookie.clone()
        };
        assert_eq!(verify(&forged, 100, 600, SECRET, "s", &[Prf::Sha256]), None);
        let later = SessionCookie {
            time_hex: "FFFF".into(),
            ..cookie
        };
        assert_eq!(verify(&later, 100, 600, SECRET, "s", &[Prf::Sha256]), None);
        assert_eq!(parse("!!!"), Err(MALFORMED));
        assert_eq!(parse(&URL_SAFE_NO_PAD.encode("no-colons")), Err(MALFORMED));
        assert_eq!(parse(&URL_SAFE_NO_PAD.encode("one:colon")), Err(MALFORMED));
        let odd = parse(&URL_SAFE_NO_PAD.encode("a:zz:mac:with:colons")).expect("three parts");
        assert_eq!(odd.mac, b"mac:with:colons");
        assert_eq!(
            verify(&odd, 0, 600, SECRET, "", &[Prf::Sha256]),
            None,
            "time is not hex"
        );
    }

    #[test]
    fn set_cookie_header_as_mochiweb() {
        let attrs = Attributes {
            max_age: Some(600),
            ..Default::default()
        };
        assert_eq!(
            set_cookie("abc", &attrs, 1_700_000_000),
            "AuthSession=abc; Version=1; Expires=Tue, 14-Nov-2023 22:23:20 GMT; Max-Age=600; Path=/; HttpOnly"
        );
        let attrs = Attributes {
            max_age: None,
            secure: true,
            domain: Some("example.com".into()),
            same_site: Some("Strict"),
        };
        assert_eq!(set_cookie("", &attrs, 0), "AuthSession=; Version=1; Secure; Domain=example.com; Path=/; HttpOnly; SameSite=Strict");
        assert_eq!(cookie_date(0), "Thu, 01-Jan-1970 00:00:00 GMT");
        assert_eq!(cookie_date(951_782_400), "Tue, 29-Feb-2000 00:00:00 GMT");
    }

    #[test]
    fn cookie_header_lookup() {
        assert_eq!(from_cookie_header("a=1; AuthSession=xyz; b=2"), Some("xyz"));
        assert_eq!(from_cookie_header("AuthSession="), Some(""));
        assert_eq!(from_cookie_header("a=1"), None);
    }
}
