//! The whole router in-process, driven like a browser: forms, cookies, origins.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use tower::ServiceExt;
use userdeck::server::http::router;
use userdeck::server::{AppState, Settings};

pub struct Site {
    pub state: AppState,
}

pub struct Answer {
    pub status: StatusCode,
    pub location: Option<String>,
    pub cookie: Option<String>,
    pub body: String,
}

impl Site {
    pub async fn new(db: &super::TestDb) -> Site {
        Site {
            state: AppState::new(db.store.clone(), &Settings::default()),
        }
    }

    pub async fn send(&self, req: Request<Body>) -> Answer {
        // Leptos keeps its reactive state per process: two tests rendering
        // pages at once, each on its own runtime, can leave one waiting
        // forever (never seen in the server, which has one runtime). Pages
        // render one at a time here.
        static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _turn = ONE_AT_A_TIME.lock().await;
        let res = router(self.state.clone())
            .oneshot(req)
            .await
            .expect("answer");
        let header = |h| {
            res.headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (status, location, cookie) = (
            res.status(),
            header(header::LOCATION),
            header(header::SET_COOKIE),
        );
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        Answer {
            status,
            location,
            cookie,
            body: String::from_utf8_lossy(&body).into(),
        }
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Answer {
        let mut req = Request::get(path);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Body::empty()).unwrap()).await
    }

    pub async fn post(
        &self,
        path: &str,
        form: &str,
        origin: Option<&str>,
        cookie: Option<&str>,
    ) -> Answer {
        let mut req = Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::HOST, "userdeck.test");
        if let Some(o) = origin {
            req = req.header(header::ORIGIN, o);
        }
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Body::from(form.to_string())).unwrap())
            .await
    }
}

pub const SAME: Option<&str> = Some("http://userdeck.test");

/// `userdeck_session=...` from a Set-Cookie header.
pub fn session_of(a: &Answer) -> String {
    let c = a.cookie.as_deref().expect("a session cookie");
    assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax"), "{c}");
    c.split(';').next().unwrap().to_string()
}
