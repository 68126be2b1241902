//! Bounded HTTP exchanges with the upstream's servers: metadata documents,
//! registration and token requests. Bodies are read up to a fixed size.

use serde::de::DeserializeOwned;

use super::UpstreamOAuthError;

/// Largest metadata or token response read.
const MAX_BODY: usize = 256 * 1024;

/// Reads a response body, at most [`MAX_BODY`] bytes.
pub(super) async fn body(mut resp: reqwest::Response) -> Result<Vec<u8>, UpstreamOAuthError> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if out.len() + chunk.len() > MAX_BODY {
            return Err(UpstreamOAuthError::Http("response too large".into()));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// GETs a JSON document; `Ok(None)` for a 4xx (not there), an error otherwise.
pub(super) async fn get_json<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<Option<T>, UpstreamOAuthError> {
    let resp = http.get(url).header(reqwest::header::ACCEPT, "application/json").send().await?;
    let status = resp.status();
    if status.is_client_error() {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(UpstreamOAuthError::Http(format!("GET {url}: status {status}")));
    }
    let bytes = body(resp).await?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| UpstreamOAuthError::Discovery(format!("{url}: invalid JSON: {e}")))
}
