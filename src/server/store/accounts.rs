//! Dashboard accounts (email and argon2id password hash) and their sessions
//! (random tokens, of which only a SHA-256 is stored).

use super::{now_ms, Store, StoreError};
use crate::model::profile::check_email;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

/// How long a sign-in lasts.
pub const SESSION_DAYS: i64 = 30;
/// How long an invitation link works.
pub const INVITE_DAYS: i64 = 7;
/// Most attribute columns an account shows on the Users list.
pub const MAX_COLUMNS: usize = 12;
pub const MIN_PASSWORD_CHARS: usize = 10;
const MAX_PASSWORD_CHARS: usize = 200;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub workspace_id: i64,
    pub email: String,
}

/// Why an account cannot be created.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Invalid(String),
    #[error("an account with this email exists already; sign in instead")]
    Exists,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Emails compare without case.
fn normalize(email: &str) -> Result<String, String> {
    check_email(email).map(|e| e.to_lowercase())
}

fn check_password(p: &str) -> Result<(), String> {
    let n = p.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(format!(
            "the password needs at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(format!(
            "the password holds at most {MAX_PASSWORD_CHARS} characters"
        ));
    }
    Ok(())
}

/// argon2id with the crate's default (OWASP) parameters; slow on purpose,
/// so it runs off the async threads.
async fn hash_password(password: String) -> Result<String, StoreError> {
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    })
    .await
    .map_err(|e| StoreError::Corrupt(e.to_string()))?
}

async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// A pending invitation, as Settings lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invite {
    pub token: String,
    pub email: String,
    pub invited_by: String,
    pub expires_at: i64,
}

pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Store {
    pub async fn account_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
            .fetch_one(&self.pool)
            .await?)
    }

    pub async fn create_account(
        &self,
        workspace: i64,
        email: &str,
        password: &str,
    ) -> Result<Account, AccountError> {
        let email = normalize(email).map_err(AccountError::Invalid)?;
        check_password(password).map_err(AccountError::Invalid)?;
        let hash = hash_password(password.to_string()).await?;
        let inserted = sqlx::query_scalar::<_, i64>(
            "INSERT INTO accounts (workspace_id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (email) DO NOTHING RETURNING id",
        )
        .bind(workspace)
        .bind(&email)
        .bind(hash)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from)?;
        match inserted {
            Some(id) => Ok(Account {
                id,
                workspace_id: workspace,
                email,
            }),
            None => Err(AccountError::Exists),
        }
    }

    /// The account with this email and password, if both are right. Takes
    /// as long for an unknown email as for a wrong password.
    pub async fn authenticate(
        &self,
        email: &str,
        password: &str,
    ) -> Result<Option<Account>, StoreError> {
        let Ok(email) = normalize(email) else {
            return Ok(None);
        };
        let row = sqlx::query(
            "SELECT id, workspace_id, email, password_hash FROM accounts WHERE email = $1",
        )
        .bind(&email)
        .fetch_optional(&self.pool)
        .await?;
        let (account, hash) = match row {
            Some(r) => (
                Some(Account {
                    id: r.try_get("id")?,
                    workspace_id: r.try_get("workspace_id")?,
                    email: r.try_get("email")?,
                }),
                r.try_get::<String, _>("password_hash")?,
            ),
            // A real hash of nothing, so the work done is the same.
            None => (None, hash_password("not a password at all".into()).await?),
        };
        let ok = verify_password(password.to_string(), hash).await;
        Ok(account.filter(|_| ok))
    }

    /// Starts a session; answers the token to put in the cookie.
    pub async fn create_session(&self, account: &Account) -> Result<String, StoreError> {
        let token = random_token();
        let now = now_ms();
        sqlx::query("INSERT INTO sessions (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash(&token))
            .bind(account.id)
            .bind(now)
            .bind(now + SESSION_DAYS * 86_400_000)
            .execute(&self.pool)
            .await?;
        Ok(token)
    }

    /// The account of a session token that exists and has not expired.
    pub async fn session_account(&self, token: &str) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(
            "SELECT a.id, a.workspace_id, a.email FROM sessions s JOIN accounts a ON a.id = s.account_id
             WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(token_hash(token))
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Account {
                id: r.try_get("id")?,
                workspace_id: r.try_get("workspace_id")?,
                email: r.try_get("email")?,
            })
        })
        .transpose()
    }

    pub async fn delete_session(&self, token: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash(token))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Invites `email` to the workspace; answers the token of the link. A
    /// new invitation to the same address replaces the old one.
    pub async fn create_invite(
        &self,
        workspace: i64,
        email: &str,
        invited_by: &str,
    ) -> Result<String, AccountError> {
        let email = normalize(email).map_err(AccountError::Invalid)?;
        let taken: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts WHERE email = $1")
            .bind(&email)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::from)?;
        if taken > 0 {
            return Err(AccountError::Exists);
        }
        let token = random_token();
        let now = now_ms();
        let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
        sqlx::query("DELETE FROM invites WHERE workspace_id = $1 AND email = $2")
            .bind(workspace)
            .bind(&email)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        sqlx::query(
            "INSERT INTO invites (token, workspace_id, email, invited_by, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&token)
        .bind(workspace)
        .bind(&email)
        .bind(invited_by)
        .bind(now)
        .bind(now + INVITE_DAYS * 86_400_000)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(token)
    }

    /// The email an unexpired invitation is for.
    pub async fn invite_email(&self, token: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT email FROM invites WHERE token = $1 AND expires_at > $2")
                .bind(token)
                .bind(now_ms())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Creates the invited account with its password and uses up the invitation.
    pub async fn accept_invite(
        &self,
        token: &str,
        password: &str,
    ) -> Result<Option<Account>, AccountError> {
        let row = sqlx::query(
            "SELECT workspace_id, email FROM invites WHERE token = $1 AND expires_at > $2",
        )
        .bind(token)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from)?;
        let Some(row) = row else { return Ok(None) };
        let workspace: i64 = row.try_get("workspace_id").map_err(StoreError::from)?;
        let email: String = row.try_get("email").map_err(StoreError::from)?;
        let account = self.create_account(workspace, &email, password).await?;
        sqlx::query("DELETE FROM invites WHERE token = $1")
            .bind(token)
            .execute(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(Some(account))
    }

    pub async fn invites(&self, workspace: i64) -> Result<Vec<Invite>, StoreError> {
        let rows = sqlx::query(
            "SELECT token, email, invited_by, expires_at FROM invites WHERE workspace_id = $1 AND expires_at > $2 ORDER BY email",
        )
        .bind(workspace)
        .bind(now_ms())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Invite {
                    token: r.try_get("token")?,
                    email: r.try_get("email")?,
                    invited_by: r.try_get("invited_by")?,
                    expires_at: r.try_get("expires_at")?,
                })
            })
            .collect()
    }

    pub async fn revoke_invite(&self, workspace: i64, email: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM invites WHERE workspace_id = $1 AND email = $2")
            .bind(workspace)
            .bind(email.trim().to_lowercase())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes another account of the workspace (its sessions end with it).
    pub async fn remove_account(&self, workspace: i64, email: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM accounts WHERE workspace_id = $1 AND email = $2")
            .bind(workspace)
            .bind(email.trim().to_lowercase())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The attribute columns the account shows on the Users list.
    pub async fn user_columns(&self, account: i64) -> Result<Vec<String>, StoreError> {
        let json: Option<String> =
            sqlx::query_scalar("SELECT user_columns FROM accounts WHERE id = $1")
                .bind(account)
                .fetch_optional(&self.pool)
                .await?;
        Ok(json
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default())
    }

    pub async fn set_user_columns(
        &self,
        account: i64,
        columns: &[String],
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE accounts SET user_columns = $2 WHERE id = $1")
            .bind(account)
            .bind(serde_json::to_string(columns).unwrap_or_else(|_| "[]".into()))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
