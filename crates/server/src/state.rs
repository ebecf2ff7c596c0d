//! Shared state handed to every handler.
use crate::auth::limiter::LoginLimiter;
use rampart_domain::clock::Clock;
use rampart_domain::ids::PrefixRegistry;
use rampart_store::Store;
use std::sync::Arc;

/// Default session lifetime: a working day plus margin.
pub const DEFAULT_SESSION_HOURS: i64 = 12;

/// How sessions behave.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Absolute session lifetime in hours; after it the analyst signs in again.
    pub session_hours: i64,
    /// Mark the cookie `Secure` (set it when Rampart is served over HTTPS).
    pub secure_cookie: bool,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            session_hours: DEFAULT_SESSION_HOURS,
            secure_cookie: false,
        }
    }
}

/// What handlers need: the store, the clock, the id prefixes, auth settings and the login
/// throttle.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub prefixes: Arc<PrefixRegistry>,
    pub auth: Arc<AuthSettings>,
    pub limiter: Arc<LoginLimiter>,
    /// Password verifications allowed at once.
    pub login_gate: Arc<tokio::sync::Semaphore>,
}

/// Concurrent argon2 verifications (each takes ~19 MiB and tens of milliseconds).
pub const LOGIN_CONCURRENCY: usize = 4;

impl AppState {
    /// State with default auth settings.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, prefixes: PrefixRegistry) -> Self {
        AppState {
            store,
            clock,
            prefixes: Arc::new(prefixes),
            auth: Arc::new(AuthSettings::default()),
            limiter: Arc::new(LoginLimiter::default()),
            login_gate: Arc::new(tokio::sync::Semaphore::new(LOGIN_CONCURRENCY)),
        }
    }
}
