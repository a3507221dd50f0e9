//! The web dashboard: the single-page app in `dashboard/`, built by Vite and
//! embedded in the binary at compile time (`build.rs` picks `dashboard/dist`
//! when it exists and an empty folder otherwise).
//!
//! Files are served from memory; any other path that does not look like a file
//! gets `index.html`, so app routes such as `/workflows/<id>` can be shared and
//! reloaded. A binary built without the dashboard answers with a page that says
//! how to build it. The page signs its own requests with a key kept in the
//! browser, so serving it grants nothing.

use std::borrow::Cow;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "$PETRI_DASHBOARD_DIST"]
struct Assets;

/// What the page may load and talk to: only this server (the API and its
/// websocket). Inline styles are allowed for the graph's computed sizes.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// One embedded file.
struct File {
    data: Cow<'static, [u8]>,
    etag: String,
}

fn embedded(path: &str) -> Option<File> {
    Assets::get(path).map(|f| File {
        etag: format!("\"{}\"", hex(&f.metadata.sha256_hash()[..16])),
        data: f.data,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Serves the dashboard for every path the API routes do not claim.
pub(crate) async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let etag = headers.get(IF_NONE_MATCH).and_then(|v| v.to_str().ok());
    respond(&method, uri.path(), etag, &embedded)
}

fn respond(
    method: &Method,
    path: &str,
    if_none_match: Option<&str>,
    lookup: &dyn Fn(&str) -> Option<File>,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    let path = path.trim_start_matches('/');
    if !path.is_empty()
        && let Some(file) = lookup(path)
    {
        // Vite puts content-hashed names under assets/; they never change.
        let cache = if path.starts_with("assets/") {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        return file_response(file, content_type(path), cache, if_none_match);
    }
    if looks_like_file(path) {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    match lookup("index.html") {
        Some(index) => file_response(index, "text/html; charset=utf-8", "no-cache", if_none_match),
        None => not_built(),
    }
}

/// A missing `assets/…` or `name.ext` gets a 404, not the app, so a stale
/// script reference fails loudly instead of loading HTML as JavaScript.
fn looks_like_file(path: &str) -> bool {
    path.starts_with("assets/") || path.rsplit('/').next().is_some_and(|last| last.contains('.'))
}

fn file_response(file: File, content_type: &'static str, cache: &'static str, if_none_match: Option<&str>) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(etag) = HeaderValue::from_str(&file.etag) {
        headers.insert(ETAG, etag);
    }
    if content_type.starts_with("text/html") {
        security_headers(&mut headers);
    }
    if if_none_match.is_some_and(|tags| tags.split(',').any(|t| t.trim() == file.etag)) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (StatusCode::OK, headers, file.data.into_owned()).into_response()
}

fn security_headers(headers: &mut HeaderMap) {
    headers.insert("content-security-policy", HeaderValue::from_static(CSP));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
}

fn content_type(path: &str) -> &'static str {
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

const NOT_BUILT: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>petri: dashboard not built</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2937;background:#f6f7f9;margin:0}
main{max-width:640px;margin:12vh auto;background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:28px 32px}
h1{font-size:20px;margin:0 0 8px}code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px}
pre{background:#f3f4f6;padding:12px 14px;border-radius:6px;overflow:auto}p{margin:8px 0}
</style></head><body><main>
<h1>The petri dashboard is not built into this binary</h1>
<p>The broker is running: clients and executors use <code>POST /api</code> and <code>/pubsub</code> as usual.</p>
<p>This binary was compiled without <code>dashboard/dist</code>. Build the dashboard (Node.js 20 or later), then rebuild petri:</p>
<pre>cd dashboard &amp;&amp; npm ci &amp;&amp; npm run build &amp;&amp; cd ..
cargo build --release -p petri-cli</pre>
</main></body></html>
"#;

fn not_built() -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    security_headers(&mut headers);
    (StatusCode::OK, headers, NOT_BUILT).into_response()
}

#[cfg(test)]
mod tests;
