//! Sessions: kept in this process's memory, named by a random cookie
//! (HttpOnly, SameSite=Strict, Secure over HTTPS), ended after
//! `idle_timeout` without a request or `absolute_timeout` after sign-in.
//! Each has its own CSRF token, which every form carries and every POST
//! must give back.
//!
//! Sign-ins under way (between the redirect to the provider and its
//! callback) are kept too, bounded in number and time, each bound to the
//! browser that started it by a cookie of its own (SameSite=Lax: it must
//! come back on the provider's cross-site redirect).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;

use crate::config::Grants;

/// Most sessions kept at once (the oldest goes first).
const MAX_SESSIONS: usize = 10_000;
/// Most sign-ins under way at once (anyone may start one).
const MAX_PENDING: usize = 1_000;
/// How long a sign-in may take at the provider.
pub(crate) const PENDING_TTL: Duration = Duration::from_secs(600);

/// 32 random bytes, base64url.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `mutex`, locked (a panic while it was held changes nothing here).
fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Make room in `map`, which may hold `max` entries: when full, the
/// entry whose `age` is least goes.
fn make_room<V, A: Ord>(map: &mut HashMap<String, V>, max: usize, age: impl Fn(&V) -> A) {
    if map.len() >= max {
        if let Some(oldest) = map
            .iter()
            .min_by_key(|(_, v)| age(v))
            .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
    }
}

/// Equal, in time that does not depend on where they differ.
pub(crate) fn same(a: &str, b: &str) -> bool {
    cognate_api::sigv4::constant_time_eq(a.as_bytes(), b.as_bytes())
}

/// Who signed in.
#[derive(Debug, Clone)]
pub(crate) struct SignedIn {
    /// `sub` at the provider.
    pub sub: String,
    /// A name to show.
    pub name: Option<String>,
    /// What they may see and do.
    pub grants: Grants,
}

#[derive(Debug)]
struct Session {
    who: SignedIn,
    csrf: String,
    started: Instant,
    last_seen: Instant,
}

/// A session that is alive: who, and its CSRF token.
#[derive(Debug, Clone)]
pub(crate) struct Active {
    pub who: SignedIn,
    pub csrf: String,
}

/// A sign-in under way.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    /// The browser's binding cookie.
    pub binding: String,
    /// PKCE verifier.
    pub verifier: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// Where to go once signed in (a path of the console).
    pub next: String,
    started: Instant,
}

/// Every session and sign-in under way.
#[derive(Debug)]
pub(crate) struct Sessions {
    idle: Duration,
    absolute: Duration,
    sessions: Mutex<HashMap<String, Session>>,
    pending: Mutex<HashMap<String, Pending>>,
}

impl Sessions {
    pub fn new(idle: Duration, absolute: Duration) -> Sessions {
        Sessions {
            idle,
            absolute,
            sessions: Mutex::default(),
            pending: Mutex::default(),
        }
    }

    fn alive(&self, session: &Session, now: Instant) -> bool {
        now.duration_since(session.last_seen) < self.idle
            && now.duration_since(session.started) < self.absolute
    }

    /// A new session for `who`; its id (the cookie's value).
    pub fn start(&self, who: SignedIn) -> String {
        let now = Instant::now();
        let id = random_token();
        let mut sessions = locked(&self.sessions);
        sessions.retain(|_, s| self.alive(s, now));
        make_room(&mut sessions, MAX_SESSIONS, |s| s.last_seen);
        sessions.insert(
            id.clone(),
            Session {
                who,
                csrf: random_token(),
                started: now,
                last_seen: now,
            },
        );
        id
    }

    /// The live session `id` names, its idle clock restarted.
    pub fn touch(&self, id: &str) -> Option<Active> {
        let now = Instant::now();
        let mut sessions = locked(&self.sessions);
        let session = sessions.get_mut(id)?;
        if !self.alive(session, now) {
            sessions.remove(id);
            return None;
        }
        session.last_seen = now;
        Some(Active {
            who: session.who.clone(),
            csrf: session.csrf.clone(),
        })
    }

    /// End session `id`.
    pub fn end(&self, id: &str) {
        locked(&self.sessions).remove(id);
    }

    /// Remember a sign-in under way, under its `state`.
    pub fn begin_sign_in(
        &self,
        state: String,
        binding: String,
        verifier: String,
        nonce: String,
        next: String,
    ) {
        let now = Instant::now();
        let mut pending = locked(&self.pending);
        pending.retain(|_, p| now.duration_since(p.started) < PENDING_TTL);
        make_room(&mut pending, MAX_PENDING, |p| p.started);
        pending.insert(
            state,
            Pending {
                binding,
                verifier,
                nonce,
                next,
                started: now,
            },
        );
    }

    /// The sign-in `state` names, once (a second callback finds nothing).
    pub fn finish_sign_in(&self, state: &str) -> Option<Pending> {
        let pending = locked(&self.pending).remove(state)?;
        (pending.started.elapsed() < PENDING_TTL).then_some(pending)
    }
}

/// The session cookie's name (`__Host-` prefixed over HTTPS).
pub(crate) fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-cognate-console"
    } else {
        "cognate-console"
    }
}

/// The sign-in binding cookie's name.
pub(crate) const BINDING_COOKIE: &str = "cognate-console-signin";

/// The session cookie carrying `id`.
pub(crate) fn session_cookie(id: String, secure: bool) -> Cookie<'static> {
    Cookie::build(session_cookie_name(secure), id)
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .finish()
}

/// A cookie that removes `name`.
pub(crate) fn removal(name: &'static str, path: &'static str, secure: bool) -> Cookie<'static> {
    let mut cookie = Cookie::build(name, "")
        .path(path)
        .http_only(true)
        .secure(secure)
        .finish();
    cookie.make_removal();
    cookie
}

/// The sign-in binding cookie carrying `value`.
pub(crate) fn binding_cookie(value: String, secure: bool) -> Cookie<'static> {
    Cookie::build(BINDING_COOKIE, value)
        .path("/auth")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::seconds(
            PENDING_TTL.as_secs() as i64,
        ))
        .finish()
}

/// The session id the request's cookie names, if any.
pub(crate) fn session_id(req: &HttpRequest, secure: bool) -> Option<String> {
    req.cookie(session_cookie_name(secure))
        .map(|c| c.value().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who() -> SignedIn {
        SignedIn {
            sub: "alice".into(),
            name: None,
            grants: Grants::default(),
        }
    }

    /// Sessions with these timeouts, and the id of one started.
    fn one_session(idle: Duration, absolute: Duration) -> (Sessions, String) {
        let sessions = Sessions::new(idle, absolute);
        let id = sessions.start(who());
        (sessions, id)
    }

    /// Whether session `id` is alive after `ms` milliseconds.
    fn alive_after(sessions: &Sessions, id: &str, ms: u64) -> bool {
        std::thread::sleep(Duration::from_millis(ms));
        sessions.touch(id).is_some()
    }

    #[test]
    fn a_session_ends_after_its_idle_timeout() {
        let (sessions, id) = one_session(Duration::from_millis(50), Duration::from_secs(60));
        assert!(alive_after(&sessions, &id, 0));
        assert!(!alive_after(&sessions, &id, 80));
    }

    #[test]
    fn a_session_ends_after_its_absolute_timeout_however_busy() {
        let (sessions, id) = one_session(Duration::from_secs(60), Duration::from_millis(100));
        for _ in 0..3 {
            assert!(alive_after(&sessions, &id, 20));
        }
        assert!(!alive_after(&sessions, &id, 80));
    }

    #[test]
    fn an_ended_session_and_an_unknown_id_are_nobody() {
        let (sessions, id) = one_session(Duration::from_secs(60), Duration::from_secs(60));
        let csrf = sessions.touch(&id).unwrap().csrf;
        assert_ne!(csrf, id);
        sessions.end(&id);
        assert!(sessions.touch(&id).is_none());
        assert!(sessions.touch("forged").is_none());
    }

    #[test]
    fn a_sign_in_is_finished_once() {
        let sessions = Sessions::new(Duration::from_secs(60), Duration::from_secs(60));
        sessions.begin_sign_in("s".into(), "b".into(), "v".into(), "n".into(), "/".into());
        assert_eq!(sessions.finish_sign_in("s").unwrap().verifier, "v");
        assert!(sessions.finish_sign_in("s").is_none());
    }

    #[test]
    fn tokens_compare_equal_only_when_equal() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
    }
}
