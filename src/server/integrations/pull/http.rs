//! Sends a tool's requests: the bearer token, a timeout on every request,
//! a bound on the answer's size, and retries of what may pass (429 after
//! its Retry-After, 5xx and network failures with a growing pause). Other
//! errors are not retried: the tool's module says what they mean.

use super::{hubspot, salesforce, Request, Tool};
use reqwest::header::{ACCEPT, AUTHORIZATION, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::Value as Json;
use std::time::Duration;

/// Largest answer read, in bytes (a page of 2,000 Salesforce records with
/// 100 fields is a few MiB).
const MAX_BODY: usize = 32 * 1024 * 1024;
const ATTEMPTS: u32 = 5;
/// The longest pause a Retry-After may ask for before the run gives up.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

pub struct Client {
    http: reqwest::Client,
    tool: Tool,
    token: String,
}

/// The first pause after a failure, doubled each time.
const FIRST_PAUSE: Duration = Duration::from_secs(1);

impl Client {
    pub fn new(tool: Tool, token: &str) -> Result<Client, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("userdeck/", env!("CARGO_PKG_VERSION")))
            // Redirects would carry the token elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        Ok(Client {
            http,
            tool,
            token: token.to_string(),
        })
    }

    /// Sends `req` until it succeeds or fails for good; answers its JSON.
    pub async fn send(&self, req: &Request) -> Result<Json, String> {
        let label = self.tool.label();
        let mut pause = FIRST_PAUSE;
        let mut last_error = String::new();
        for attempt in 1..=ATTEMPTS {
            let builder = match req {
                Request::Get(url) => self.http.get(url),
                Request::Post(url, body) => self.http.post(url).json(body),
            };
            let res = builder
                .header(AUTHORIZATION, format!("Bearer {}", self.token))
                .header(ACCEPT, "application/json")
                .send()
                .await;
            let res = match res {
                Ok(r) => r,
                Err(e) => {
                    last_error = format!("{label} cannot be reached: {}", describe(&e));
                    if attempt < ATTEMPTS {
                        tokio::time::sleep(pause).await;
                        pause *= 2;
                    }
                    continue;
                }
            };
            let status = res.status();
            let retry_after = res
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = read_body(res).await.map_err(|e| format!("{label}: {e}"))?;
            if status.is_success() {
                return serde_json::from_slice(&body)
                    .map_err(|e| format!("{label} answered something that is not JSON: {e}"));
            }
            let text = String::from_utf8_lossy(&body);
            last_error = match self.tool {
                Tool::HubSpot => hubspot::error_message(status.as_u16(), &text),
                Tool::Salesforce => salesforce::error_message(status.as_u16(), &text),
            };
            if status.is_redirection() {
                return Err(format!(
                    "{label} answered {status} (a redirect): check the base URL"
                ));
            }
            let wait = match status {
                StatusCode::TOO_MANY_REQUESTS => retry_after.unwrap_or(pause * 5),
                s if s.is_server_error() => pause,
                _ => return Err(last_error),
            };
            if wait > MAX_RETRY_AFTER {
                return Err(format!(
                    "{last_error} (asked to wait {} s: the next run tries again)",
                    wait.as_secs()
                ));
            }
            if attempt < ATTEMPTS {
                tracing::info!(
                    "{label} answered {status}; retrying in {} ms",
                    wait.as_millis()
                );
                tokio::time::sleep(wait).await;
                pause *= 2;
            }
        }
        Err(format!("{last_error} (after {ATTEMPTS} tries)"))
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer within the timeout".into()
    } else if e.is_connect() {
        format!("cannot connect ({e}): check the base URL")
    } else {
        e.to_string()
    }
}

/// The body, refused past `MAX_BODY` without reading the rest.
async fn read_body(mut res: reqwest::Response) -> Result<Vec<u8>, String> {
    if res.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(format!("an answer larger than {} MiB", MAX_BODY >> 20));
    }
    let mut out = Vec::new();
    while let Some(chunk) = res
        .chunk()
        .await
        .map_err(|e| format!("the answer broke off: {e}"))?
    {
        if out.len() + chunk.len() > MAX_BODY {
            return Err(format!("an answer larger than {} MiB", MAX_BODY >> 20));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
