//! Credentials: the API token and the signed download URL. Neither is ever shown by `Debug`
//! or `Display`; the token is only ever placed on requests to the API base.

use std::fmt;

/// The Cloudflare API token, sent as `Authorization: Bearer …` to the API base only.
///
/// `Debug` prints `ApiToken(<redacted>)`; there is no `Display`.
///
/// ```
/// let token = d1_export_core::ApiToken::new("s3cr3t").unwrap();
/// assert!(!format!("{token:?}").contains("s3cr3t"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(String);

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidToken {
    /// The token is empty.
    #[error("the API token is empty")]
    Empty,
    /// The token holds characters that cannot go into an HTTP header (control characters).
    #[error("the API token holds characters not allowed in an HTTP header")]
    NotAHeaderValue,
}

impl ApiToken {
    /// Wraps a token. Surrounding whitespace (a newline from a file or a pipe) is trimmed.
    pub fn new(token: &str) -> Result<Self, InvalidToken> {
        let token = token.trim();
        if token.is_empty() {
            return Err(InvalidToken::Empty);
        }
        if !token.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(InvalidToken::NotAHeaderValue);
        }
        Ok(Self(token.to_owned()))
    }

    /// The `Authorization` header value, marked sensitive so `http`'s own `Debug` hides it.
    pub(crate) fn header_value(&self) -> http::HeaderValue {
        let mut value = http::HeaderValue::from_str(&format!("Bearer {}", self.0))
            .unwrap_or_else(|_| http::HeaderValue::from_static("Bearer"));
        value.set_sensitive(true);
        value
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

/// A presigned download URL: a credential for one hour. `Debug` and `Display` show the scheme,
/// host and path, never the query (which holds the signature).
#[derive(Clone, PartialEq, Eq)]
pub struct SignedUrl(http::Uri);

impl SignedUrl {
    /// Parses a signed URL; only `https`, or `http` to a loopback host, is accepted.
    pub fn parse(url: &str) -> Result<Self, String> {
        let uri: http::Uri = url
            .parse()
            .map_err(|_| "the signed URL is not a valid URL".to_owned())?;
        let host = uri
            .host()
            .ok_or_else(|| "the signed URL has no host".to_owned())?;
        match uri.scheme_str() {
            Some("https") => Ok(Self(uri)),
            Some("http") if crate::config::is_loopback_host(host) => Ok(Self(uri)),
            Some("http") => Err("the signed URL is plain http to a non-loopback host".to_owned()),
            _ => Err("the signed URL is not an http(s) URL".to_owned()),
        }
    }

    /// The full URL (with its signature). Handle with care: do not log it.
    pub fn expose(&self) -> &http::Uri {
        &self.0
    }

    /// The URL without its query string or userinfo, safe to show.
    pub fn redacted(&self) -> String {
        redacted_uri(&self.0)
    }
}

impl fmt::Debug for SignedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignedUrl({:?})", self.redacted())
    }
}

impl fmt::Display for SignedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// A URI as it may be shown: scheme, host, port and path; any userinfo and the query (which
/// hold credentials in a signed URL) replaced by `…`.
pub(crate) fn redacted_uri(uri: &http::Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("https");
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or("");
    let (user, host) = match authority.rsplit_once('@') {
        Some((_, host)) => ("…@", host),
        None => ("", authority),
    };
    let query = if uri.query().is_some() { "?…" } else { "" };
    format!("{scheme}://{user}{host}{}{query}", uri.path())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hidden() {
        let t = ApiToken::new(" abc123XYZ\n").unwrap();
        assert_eq!(format!("{t:?}"), "ApiToken(<redacted>)");
        let v = t.header_value();
        assert!(v.is_sensitive());
        assert_eq!(v.to_str().unwrap(), "Bearer abc123XYZ");
        assert!(!format!("{v:?}").contains("abc123"));
        assert_eq!(ApiToken::new("  "), Err(InvalidToken::Empty));
        assert_eq!(ApiToken::new("a\rb"), Err(InvalidToken::NotAHeaderValue));
    }

    #[test]
    fn signed_url_hidden() {
        let u =
            SignedUrl::parse("https://bucket.example/x/db.sql?X-Amz-Signature=deadbeef").unwrap();
        let shown = format!("{u:?} {u}");
        assert!(!shown.contains("deadbeef"), "{shown}");
        assert!(shown.contains("bucket.example/x/db.sql"));
        let with_user =
            SignedUrl::parse("https://key:pass@bucket.example/db.sql?sig=s3cr3t").unwrap();
        let shown = format!("{with_user:?} {with_user} {}", with_user.redacted());
        assert!(
            !shown.contains("key") && !shown.contains("pass") && !shown.contains("s3cr3t"),
            "{shown}"
        );
        assert!(shown.contains("bucket.example/db.sql"), "{shown}");
        let plain = SignedUrl::parse("http://evil.example/a?sig=1").unwrap_err();
        assert!(plain.contains("plain http"), "{plain}");
        assert!(SignedUrl::parse("http://127.0.0.1:9/a?sig=1").is_ok());
        let ftp = SignedUrl::parse("ftp://127.0.0.1/a").unwrap_err();
        assert!(ftp.contains("not an http(s) URL"), "{ftp}");
        assert!(SignedUrl::parse("not a url").is_err());
    }
}
