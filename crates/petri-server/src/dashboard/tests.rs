use std::borrow::Cow;

use axum::body::to_bytes;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG};
use axum::http::{HeaderMap, HeaderName, Method, StatusCode};

use super::{File, respond};

const INDEX: &[u8] = b"<!doctype html><div id=app></div>";
const SCRIPT: &[u8] = b"console.log(1)";

fn built(path: &str) -> Option<File> {
    let data: &'static [u8] = match path {
        "index.html" => INDEX,
        "assets/index-abc123.js" => SCRIPT,
        _ => return None,
    };
    Some(File {
        data: Cow::Borrowed(data),
        etag: format!("\"{}\"", path.len()),
    })
}

fn missing(_: &str) -> Option<File> {
    None
}

async fn check(
    lookup: &dyn Fn(&str) -> Option<File>,
    method: Method,
    path: &str,
    etag: Option<&str>,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let (parts, body) = respond(&method, path, etag, lookup).into_parts();
    let bytes = to_bytes(body, usize::MAX).await.expect("in-memory body");
    (parts.status, parts.headers, bytes.to_vec())
}

fn header(h: &HeaderMap, name: HeaderName) -> String {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

#[tokio::test]
async fn app_routes_get_the_index_page() {
    for path in [
        "/",
        "/workflows/0a1b",
        "/processes/ff00",
        "/executors",
        "/signin?next=/functions",
    ] {
        let path = path.split('?').next().unwrap_or_default();
        let (status, r, body) = check(&built, Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(body, INDEX, "{path}");
        assert_eq!(header(&r, CONTENT_TYPE), "text/html; charset=utf-8");
        assert_eq!(header(&r, CACHE_CONTROL), "no-cache");
        assert!(header(&r, HeaderName::from_static("content-security-policy")).contains("default-src 'self'"));
    }
}

#[tokio::test]
async fn hashed_assets_are_served_and_cached_for_good() {
    let (status, r, body) = check(&built, Method::GET, "/assets/index-abc123.js", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, SCRIPT);
    assert_eq!(header(&r, CONTENT_TYPE), "text/javascript; charset=utf-8");
    assert!(header(&r, CACHE_CONTROL).contains("immutable"));
    let etag = header(&r, ETAG);
    let (status, _, body) = check(&built, Method::GET, "/assets/index-abc123.js", Some(&etag)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
}

#[tokio::test]
async fn missing_files_are_not_found_instead_of_the_app() {
    for path in ["/assets/index-old.js", "/favicon.ico", "/assets/", "/x/y/report.css"] {
        let (status, _, _) = check(&built, Method::GET, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _, _) = check(&built, Method::POST, "/workflows/1", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_binary_without_the_dashboard_says_how_to_build_it() {
    let (status, r, body) = check(&missing, Method::GET, "/workflows/1", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&r, CONTENT_TYPE), "text/html; charset=utf-8");
    let text = String::from_utf8(body).expect("utf-8 page");
    assert!(text.contains("dashboard is not built"), "{text}");
    assert!(text.contains("npm run build"), "{text}");
}

#[tokio::test]
async fn the_embedded_dashboard_serves_the_root() {
    // Whichever way this binary was built, `/` answers with an HTML page.
    let (status, r, body) = check(&super::embedded, Method::GET, "/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&r, CONTENT_TYPE), "text/html; charset=utf-8");
    assert!(String::from_utf8_lossy(&body).contains("<html"));
}
