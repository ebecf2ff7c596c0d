//! Shared state handed to every handler.
use rampart_domain::clock::Clock;
use rampart_domain::ids::PrefixRegistry;
use rampart_store::Store;
use std::sync::Arc;

/// What handlers need: the store, the clock, the id prefixes.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub prefixes: Arc<PrefixRegistry>,
}
