//! SQL for users, sessions, tokens, custom roles and the audit trail on SQLite.
use super::alerts::{append_event, event};
use crate::access::{NewToken, NewUser, SessionInfo, TokenInfo, UserLogin, UserPatch};
use crate::error::StoreError;
use rampart_domain::access::{Permission, RoleDef};
use rampart_domain::history::{Actor, ActorKind, HistoryEvent, TargetKind};
use rampart_domain::timestamp::Timestamp;
use rampart_domain::user::{ApiToken, User};
use rusqlite::{params, Connection, OptionalExtension, Row};

fn sources_json(s: &Option<Vec<String>>) -> Option<String> {
    s.as_ref()
        .map(|v| serde_json::to_string(v).unwrap_or_else(|_| "[]".into()))
}

fn sources_from(s: Option<String>) -> Option<Vec<String>> {
    s.map(|j| serde_json::from_str(&j).unwrap_or_default())
}

fn changed(
    target: &str,
    actor: &Actor,
    now: Timestamp,
    field: &str,
    old: Option<String>,
    new: Option<String>,
) -> HistoryEvent {
    HistoryEvent {
        field: Some(field.into()),
        old_value: old,
        new_value: new,
        ..event(target, actor, now, "changed")
    }
}

const USER_COLS: &str =
    "id, username, display_name, role, sources, disabled, created, last_login, password_hash";

fn row_user(r: &Row<'_>) -> rusqlite::Result<UserLogin> {
    Ok(UserLogin {
        user: User {
            id: r.get(0)?,
            username: r.get(1)?,
            display_name: r.get(2)?,
            role: r.get(3)?,
            sources: sources_from(r.get(4)?),
            disabled: r.get::<_, i64>(5)? != 0,
            created: Timestamp::from_micros(r.get(6)?),
            last_login: r.get::<_, Option<i64>>(7)?.map(Timestamp::from_micros),
        },
        password_hash: r.get(8)?,
    })
}

pub(crate) fn create_user(
    conn: &Connection,
    u: &NewUser,
    actor: &Actor,
    now: Timestamp,
) -> Result<User, StoreError> {
    let id = format!("usr-{}", uuid::Uuid::new_v4());
    conn.prepare_cached(
        "INSERT INTO users (id, username, display_name, password_hash, role, sources, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        id,
        u.username,
        u.display_name,
        u.password_hash,
        u.role,
        sources_json(&u.sources),
        now.micros()
    ])?;
    let mut e = event(&id, actor, now, "created");
    e.field = Some("role".into());
    e.new_value = Some(u.role.clone());
    append_event(conn, TargetKind::User, &e)?;
    user_by_id(conn, &id)?.ok_or(StoreError::NotFound)
}

pub(crate) fn user_by_id(conn: &Connection, id: &str) -> Result<Option<User>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {USER_COLS} FROM users WHERE id = ?1"))?
        .query_row([id], row_user)
        .optional()?
        .map(|l| l.user))
}

pub(crate) fn user_login(conn: &Connection, name: &str) -> Result<Option<UserLogin>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {USER_COLS} FROM users WHERE username = ?1"
        ))?
        .query_row([name], row_user)
        .optional()?)
}

pub(crate) fn list_users(conn: &Connection) -> Result<Vec<User>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {USER_COLS} FROM users ORDER BY username COLLATE NOCASE"
    ))?;
    let rows = stmt.query_map([], row_user)?;
    Ok(rows
        .map(|r| r.map(|l| l.user))
        .collect::<Result<Vec<_>, _>>()?)
}

pub(crate) fn update_user(
    conn: &Connection,
    id: &str,
    p: &UserPatch,
    actor: &Actor,
    now: Timestamp,
) -> Result<User, StoreError> {
    let old = user_by_id(conn, id)?.ok_or(StoreError::NotFound)?;
    let mut events = Vec::new();
    if let Some(d) = &p.display_name {
        if *d != old.display_name {
            conn.execute(
                "UPDATE users SET display_name = ?2 WHERE id = ?1",
                params![id, d],
            )?;
            events.push(changed(
                id,
                actor,
                now,
                "displayName",
                Some(old.display_name.clone()),
                Some(d.clone()),
            ));
        }
    }
    if let Some(h) = &p.password_hash {
        conn.execute(
            "UPDATE users SET password_hash = ?2 WHERE id = ?1",
            params![id, h],
        )?;
        events.push(changed(id, actor, now, "password", None, None));
    }
    if let Some(r) = &p.role {
        if *r != old.role {
            conn.execute("UPDATE users SET role = ?2 WHERE id = ?1", params![id, r])?;
            events.push(changed(
                id,
                actor,
                now,
                "role",
                Some(old.role.clone()),
                Some(r.clone()),
            ));
        }
    }
    if let Some(s) = &p.sources {
        if *s != old.sources {
            conn.execute(
                "UPDATE users SET sources = ?2 WHERE id = ?1",
                params![id, sources_json(s)],
            )?;
            events.push(changed(
                id,
                actor,
                now,
                "sources",
                sources_json(&old.sources),
                sources_json(s),
            ));
        }
    }
    if let Some(d) = p.disabled {
        if d != old.disabled {
            conn.execute(
                "UPDATE users SET disabled = ?2 WHERE id = ?1",
                params![id, i64::from(d)],
            )?;
            events.push(changed(
                id,
                actor,
                now,
                "disabled",
                Some(old.disabled.to_string()),
                Some(d.to_string()),
            ));
        }
    }
    if p.ends_sessions() {
        conn.execute("DELETE FROM sessions WHERE user_id = ?1", [id])?;
    }
    for e in &events {
        append_event(conn, TargetKind::User, e)?;
    }
    user_by_id(conn, id)?.ok_or(StoreError::NotFound)
}

pub(crate) fn record_login(conn: &Connection, id: &str, now: Timestamp) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE users SET last_login = ?2 WHERE id = ?1",
        params![id, now.micros()],
    )?;
    // Expired sessions are swept at each login: cheap, and keeps the table small without
    // a background task.
    conn.execute("DELETE FROM sessions WHERE expires <= ?1", [now.micros()])?;
    let user = user_by_id(conn, id)?.ok_or(StoreError::NotFound)?;
    let actor = Actor {
        kind: ActorKind::User,
        name: user.username,
    };
    append_event(conn, TargetKind::User, &event(id, &actor, now, "loggedIn"))
}

pub(crate) fn create_session(
    conn: &Connection,
    digest: &[u8],
    user_id: &str,
    csrf: &str,
    expires: Timestamp,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO sessions (digest, user_id, csrf, created, expires) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        digest,
        user_id,
        csrf,
        now.micros(),
        expires.micros()
    ])?;
    Ok(())
}

pub(crate) fn session(
    conn: &Connection,
    digest: &[u8],
    now: Timestamp,
) -> Result<Option<SessionInfo>, StoreError> {
    let cols = USER_COLS
        .split(", ")
        .map(|c| format!("u.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {cols}, s.csrf, s.expires FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.digest = ?1 AND s.expires > ?2 AND u.disabled = 0"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![digest, now.micros()], |r| {
            Ok(SessionInfo {
                user: row_user(r)?.user,
                csrf: r.get(9)?,
                expires: Timestamp::from_micros(r.get(10)?),
            })
        })
        .optional()?)
}

pub(crate) fn delete_session(conn: &Connection, digest: &[u8]) -> Result<(), StoreError> {
    conn.execute("DELETE FROM sessions WHERE digest = ?1", [digest])?;
    Ok(())
}

const TOKEN_COLS: &str = "id, name, role, sources, created_by, created, last_used, revoked";

fn row_token(r: &Row<'_>) -> rusqlite::Result<ApiToken> {
    Ok(ApiToken {
        id: r.get(0)?,
        name: r.get(1)?,
        role: r.get(2)?,
        sources: sources_from(r.get(3)?),
        created_by: r.get(4)?,
        created: Timestamp::from_micros(r.get(5)?),
        last_used: r.get::<_, Option<i64>>(6)?.map(Timestamp::from_micros),
        revoked: r.get::<_, Option<i64>>(7)?.map(Timestamp::from_micros),
    })
}

fn token_by_id(conn: &Connection, id: &str) -> Result<Option<ApiToken>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {TOKEN_COLS} FROM tokens WHERE id = ?1"))?
        .query_row([id], row_token)
        .optional()?)
}

pub(crate) fn create_token(
    conn: &Connection,
    t: &NewToken,
    actor: &Actor,
    now: Timestamp,
) -> Result<ApiToken, StoreError> {
    let id = format!("tok-{}", uuid::Uuid::new_v4());
    conn.prepare_cached(
        "INSERT INTO tokens (id, digest, name, role, sources, created_by, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        id,
        t.digest,
        t.name,
        t.role,
        sources_json(&t.sources),
        actor.name,
        now.micros()
    ])?;
    let mut e = event(&id, actor, now, "created");
    e.field = Some("role".into());
    e.new_value = Some(t.role.clone());
    e.text = Some(t.name.clone());
    append_event(conn, TargetKind::Token, &e)?;
    token_by_id(conn, &id)?.ok_or(StoreError::NotFound)
}

pub(crate) fn token_by_digest(
    conn: &Connection,
    digest: &[u8],
) -> Result<Option<TokenInfo>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {TOKEN_COLS} FROM tokens WHERE digest = ?1 AND revoked IS NULL"
        ))?
        .query_row([digest], row_token)
        .optional()?
        .map(|token| TokenInfo { token }))
}

pub(crate) fn list_tokens(conn: &Connection) -> Result<Vec<ApiToken>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {TOKEN_COLS} FROM tokens ORDER BY created DESC, id"
    ))?;
    let rows = stmt.query_map([], row_token)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(crate) fn revoke_token(
    conn: &Connection,
    id: &str,
    actor: &Actor,
    now: Timestamp,
) -> Result<ApiToken, StoreError> {
    let t = token_by_id(conn, id)?.ok_or(StoreError::NotFound)?;
    if t.revoked.is_none() {
        conn.execute(
            "UPDATE tokens SET revoked = ?2 WHERE id = ?1",
            params![id, now.micros()],
        )?;
        append_event(conn, TargetKind::Token, &event(id, actor, now, "revoked"))?;
    }
    token_by_id(conn, id)?.ok_or(StoreError::NotFound)
}

pub(crate) fn touch_token(conn: &Connection, id: &str, now: Timestamp) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE tokens SET last_used = ?2 WHERE id = ?1",
        params![id, now.micros()],
    )?;
    Ok(())
}

pub(crate) fn list_roles(conn: &Connection) -> Result<Vec<RoleDef>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, permissions, sources FROM roles ORDER BY name COLLATE NOCASE",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (name, perms, sources) = row?;
        let perms: Vec<String> = serde_json::from_str(&perms).unwrap_or_default();
        // A permission this build does not know (a downgrade) is dropped, never widened.
        let perms = perms.iter().filter_map(|p| Permission::parse(p));
        let role = RoleDef {
            name,
            builtin: false,
            permissions: perms.collect(),
            sources: sources_from(sources).map(|v| v.into_iter().collect()),
        };
        out.push(role);
    }
    Ok(out)
}

pub(crate) fn create_role(
    conn: &Connection,
    role: &RoleDef,
    actor: &Actor,
    now: Timestamp,
) -> Result<(), StoreError> {
    let perms: Vec<&str> = role.permissions.iter().map(|p| p.as_str()).collect();
    let sources = role
        .sources
        .as_ref()
        .map(|s| s.iter().cloned().collect::<Vec<_>>());
    conn.execute(
        "INSERT INTO roles (name, permissions, sources, created) VALUES (?1, ?2, ?3, ?4)",
        params![
            role.name,
            serde_json::to_string(&perms).unwrap_or_else(|_| "[]".into()),
            sources_json(&sources),
            now.micros()
        ],
    )?;
    let mut e = event(&format!("role:{}", role.name), actor, now, "created");
    e.field = Some("permissions".into());
    e.new_value = Some(perms.join(", "));
    append_event(conn, TargetKind::Role, &e)
}

pub(crate) fn audit(
    conn: &Connection,
    target: Option<&str>,
    limit: usize,
) -> Result<Vec<HistoryEvent>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let (sql, args): (&str, Vec<rusqlite::types::Value>) = match target {
        Some(t) => (
            "SELECT seq, target_id, at, actor_kind, actor_name, action, field, old_value, new_value, text
             FROM history WHERE target_id = ?1 AND kind IN ('user','token','role','auth')
             ORDER BY seq DESC LIMIT ?2",
            vec![t.to_string().into(), limit.into()],
        ),
        None => (
            "SELECT seq, target_id, at, actor_kind, actor_name, action, field, old_value, new_value, text
             FROM history WHERE kind IN ('user','token','role','auth') ORDER BY seq DESC LIMIT ?1",
            vec![limit.into()],
        ),
    };
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), super::alerts::row_history)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}
