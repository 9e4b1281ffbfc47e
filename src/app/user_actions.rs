//! What a person can do to a user from the list and the profile: add and
//! remove tags, delete. Plain forms over server functions, so they work
//! before (and without) the wasm; each answers which list to reload.

use leptos::form::ActionForm;
use leptos::prelude::*;

#[server(prefix = "/_fn", endpoint = "retag_user")]
pub async fn retag_user(
    jimer_id: String,
    add: Option<String>,
    remove: Option<String>,
) -> Result<Vec<String>, ServerFnError> {
    use crate::server::store::users::UserKey;
    use crate::server::store::writer::{WriteError, WriteOp, WriteOutcome};
    let (state, account) = crate::server::dashboard::signed_in().await?;
    let op = WriteOp::Retag {
        workspace: account.workspace_id,
        user: UserKey::JimerId(jimer_id),
        add: add.into_iter().collect(),
        remove: remove.into_iter().collect(),
    };
    match state.writer.write(op).await {
        Ok(WriteOutcome::Tags(Some(tags))) => Ok(tags),
        Ok(_) => Err(ServerFnError::new("this user does not exist any more")),
        Err(WriteError::Rejected(e)) => Err(ServerFnError::new(e.message)),
        Err(e) => Err(ServerFnError::new(e.to_string())),
    }
}

/// Deletes the user and all their data; `confirm` is the form's "yes" box.
/// `back` is where to go afterwards (the profile of a deleted user is gone).
#[server(prefix = "/_fn", endpoint = "delete_user")]
pub async fn delete_user(
    jimer_id: String,
    confirm: Option<String>,
    back: Option<String>,
) -> Result<(), ServerFnError> {
    use crate::server::store::users::UserKey;
    use crate::server::store::writer::WriteOp;
    let (state, account) = crate::server::dashboard::signed_in().await?;
    if confirm.as_deref() != Some("yes") {
        return Err(ServerFnError::new("tick the box to confirm the deletion"));
    }
    state
        .writer
        .write(WriteOp::DeleteUser {
            workspace: account.workspace_id,
            user: UserKey::JimerId(jimer_id),
        })
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))?;
    if back.is_some() {
        leptos_axum::redirect(crate::server::http::auth::local_path(back.as_deref()));
    }
    Ok(())
}

/// "Add tag": a text box and a button.
#[component]
pub fn AddTag(jimer_id: String, who: String, action: ServerAction<RetagUser>) -> impl IntoView {
    view! {
        <ActionForm action attr:class="add-tag">
            <input type="hidden" name="jimer_id" value=jimer_id />
            <label>
                <span class="visually-hidden">{format!("New tag for {who}")}</span>
                <input type="text" name="add" required maxlength="40" placeholder="New tag" />
            </label>
            <button type="submit">"Add tag"</button>
        </ActionForm>
    }
}

/// A tag with its remove button.
#[component]
pub fn RemovableTag(
    jimer_id: String,
    tag: String,
    action: ServerAction<RetagUser>,
) -> impl IntoView {
    view! {
        <span class="chip removable">
            {tag.clone()}
            <ActionForm action>
                <input type="hidden" name="jimer_id" value=jimer_id />
                <input type="hidden" name="remove" value=tag.clone() />
                <button type="submit" class="chip-remove" aria-label=format!("Remove tag {tag}")>"×"</button>
            </ActionForm>
        </span>
    }
}

/// "Delete user": a box to tick, then the button.
#[component]
pub fn DeleteUserForm(
    jimer_id: String,
    who: String,
    back: Option<String>,
    action: ServerAction<DeleteUser>,
) -> impl IntoView {
    view! {
        <ActionForm action attr:class="delete-user">
            <input type="hidden" name="jimer_id" value=jimer_id />
            {back.map(|b| view! { <input type="hidden" name="back" value=b /> })}
            <label>
                <input type="checkbox" name="confirm" value="yes" required />
                {format!(" Yes, delete {who} and all their data")}
            </label>
            <button type="submit" class="danger">"Delete user"</button>
        </ActionForm>
    }
}
