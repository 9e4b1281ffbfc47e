//! Workspaces by key, remembered for a few seconds: every API and SDK
//! request names a key, and a database read for each would cost more than
//! the request itself. Unknown keys are not remembered, so guessing keys
//! cannot fill the memory.

use super::store::workspace::Workspace;
use super::store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// How long a key is trusted without asking the database again (a rotated
/// key stops working within this time).
const TTL: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub struct KeyCache {
    entries: RwLock<HashMap<String, (Workspace, Instant)>>,
}

/// Which key of a workspace a request carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Secret,
    Sdk,
}

impl KeyCache {
    pub async fn workspace(
        &self,
        store: &Store,
        kind: KeyKind,
        key: &str,
    ) -> Result<Option<Workspace>, StoreError> {
        let cache_key = format!("{kind:?}:{key}");
        if let Some((ws, at)) = self
            .entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&cache_key)
        {
            if at.elapsed() < TTL {
                return Ok(Some(ws.clone()));
            }
        }
        let ws = match kind {
            KeyKind::Secret => store.workspace_by_secret_key(key).await?,
            KeyKind::Sdk => store.workspace_by_sdk_key(key).await?,
        };
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        match &ws {
            Some(ws) => {
                entries.insert(cache_key, (ws.clone(), Instant::now()));
            }
            None => {
                entries.remove(&cache_key);
            }
        }
        Ok(ws)
    }

    /// Forgets every key, after keys or settings changed.
    pub fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}
