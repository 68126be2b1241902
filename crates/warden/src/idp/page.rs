//! The HTML the development IdP shows: the login page and the error page.
//! Everything echoed is escaped; pages are uncacheable and not frameable.

use http::{HeaderValue, Response, StatusCode};

use crate::error::{Body, full};

/// Escapes text for HTML element content and double-quoted attributes.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}\
    h1{font-size:1.4rem}dl{background:#f4f4f4;padding:.8rem;border-radius:6px}dt{font-weight:600}dd{margin:0 0 .5rem 0;word-break:break-all}\
    label{display:block;margin:.6rem 0 .2rem}input[type=text],input[type=password]{width:100%;padding:.4rem;box-sizing:border-box}\
    button{margin-top:1rem;padding:.5rem 1.2rem}.error{color:#a00;font-weight:600}.note{color:#666;font-size:.85rem}";

/// An HTML response with the security headers every page gets.
pub(crate) fn html(status: StatusCode, title: &str, body: &str) -> Response<Body> {
    let doc = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><style>{STYLE}</style></head><body>{body}</body></html>",
        escape(title)
    );
    let mut r = Response::new(full(doc));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
    );
    h.insert(http::header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(http::header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(http::header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}

/// The error page, for errors that cannot go back to a verified redirect URI.
pub(crate) fn error(status: StatusCode, message: &str) -> Response<Body> {
    html(
        status,
        "Sign-in error",
        &format!(
            "<h1>Sign-in error</h1><p class=\"error\">{}</p>\
             <p class=\"note\">Warden development identity provider. Go back to the application and try again.</p>",
            escape(message)
        ),
    )
}

/// What the login page shows.
pub(crate) struct LoginView<'a> {
    pub(crate) csrf: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) client_name: Option<&'a str>,
    pub(crate) client_kind: &'a str,
    pub(crate) redirect_uri: &'a str,
    pub(crate) resource: &'a str,
    pub(crate) scopes: &'a [String],
    pub(crate) error: Option<&'a str>,
    pub(crate) username: &'a str,
}

/// The login page: who asks for what, and the username/password form.
pub(crate) fn login(v: &LoginView<'_>) -> String {
    let who = v.client_name.map_or_else(|| escape(v.client_id), |n| format!("{} ({})", escape(n), escape(v.client_id)));
    let scopes = if v.scopes.is_empty() { "(none)".to_string() } else { escape(&v.scopes.join(" ")) };
    let error = v.error.map(|e| format!("<p class=\"error\">{}</p>", escape(e))).unwrap_or_default();
    format!(
        "<h1>Sign in to Warden</h1>\
         <p>An application asks to act on your behalf.</p>\
         <dl><dt>Application</dt><dd>{who}</dd><dt>Registered as</dt><dd>{kind}</dd>\
         <dt>Will receive the answer at</dt><dd>{redirect}</dd>\
         <dt>Access to</dt><dd>{resource}</dd><dt>Scopes</dt><dd>{scopes}</dd></dl>{error}\
         <form method=\"post\" action=\"/oauth/authorize\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"login\">Username</label><input type=\"text\" id=\"login\" name=\"login\" value=\"{user}\" autocomplete=\"username\" required autofocus>\
         <label for=\"password\">Password</label><input type=\"password\" id=\"password\" name=\"password\" value=\"\" autocomplete=\"current-password\" required>\
         <button type=\"submit\">Sign in and allow</button></form>\
         <form method=\"post\" action=\"/oauth/authorize\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"deny\" value=\"1\"><button type=\"submit\">Deny</button></form>\
         <p class=\"note\">Warden development identity provider: users and passwords come from \
         <code>devIdentityProvider.users</code>. Not for production.</p>",
        kind = escape(v.client_kind),
        redirect = escape(v.redirect_uri),
        resource = escape(v.resource),
        csrf = escape(v.csrf),
        user = escape(v.username),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_echoed_is_escaped() {
        let scopes = vec!["<b>".to_string()];
        let page = login(&LoginView {
            csrf: "\"><script>",
            client_id: "<script>alert(1)</script>",
            client_name: Some("a&b"),
            client_kind: "x",
            redirect_uri: "https://x/\"'",
            resource: "r",
            scopes: &scopes,
            error: Some("<i>"),
            username: "\"u",
        });
        assert!(!page.contains("<script>") && !page.contains("<b>") && !page.contains("<i>"), "{page}");
        assert!(page.contains("a&amp;b") && page.contains("&quot;u") && page.contains("&#39;"));
    }
}
