//! Conformance cases for triage, accounts, sessions and tokens.
use super::{new_alert, now, record};
use crate::access::{BulkTarget, NewToken, NewUser, UserPatch};
use crate::{Store, StoreError};
use rampart_domain::access::{authorize, builtin, Grant, Permission, Principal, PrincipalKind};
use rampart_domain::history::{Actor, TargetKind};
use rampart_domain::triage::AlertChange;
use rampart_domain::vocab::{AlertStatus, Classification, Determination};

/// What a principal holding built-in `role` (limited to `sources`) may do with `perm`.
pub fn grant(role: &str, sources: Option<&[&str]>, perm: Permission) -> Grant {
    let mut r = builtin(role).unwrap();
    r.sources = sources.map(|s| s.iter().map(|x| x.to_string()).collect());
    let p = Principal::new(PrincipalKind::User, "u-1", "tester", vec![r]);
    authorize(&p, perm, None).unwrap()
}

async fn user(s: &dyn Store, name: &str) -> String {
    s.create_user(
        NewUser {
            username: name.into(),
            display_name: name.into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
                .into(),
            role: "Security operator".into(),
            sources: None,
        },
        Actor::system(),
        now(),
    )
    .await
    .unwrap()
    .id
}

/// An update based on an old version fails with `Stale` and changes nothing; a current one
/// applies, bumps the version and records one history event per field.
pub async fn stale_update_conflicts(s: &dyn Store) {
    let t = now();
    s.ingest(
        vec![new_alert(record("da-s", None, t), vec![], b"{}")],
        Actor::producer("p"),
        t,
    )
    .await
    .unwrap();
    let g = grant("Security operator", None, Permission::AlertsManage);
    let resolve = AlertChange {
        status: Some(AlertStatus::Resolved),
        classification: Some(Classification::TruePositive),
        determination: Some(Determination::Malware),
        ..Default::default()
    };
    match s.update_alert(&g, "da-s", &resolve, 5, None, t).await {
        Err(StoreError::Stale { current: 1 }) => {}
        other => panic!("expected Stale, got {other:?}"),
    }
    assert_eq!(
        s.get_alert("da-s").await.unwrap().unwrap().record.status,
        AlertStatus::New
    );
    assert!(s
        .history(TargetKind::Alert, "da-s")
        .await
        .unwrap()
        .is_empty());
    let u = s
        .update_alert(&g, "da-s", &resolve, 1, None, t)
        .await
        .unwrap();
    assert!(u.changed);
    assert_eq!(u.record.version, 2);
    assert_eq!(u.record.resolved, Some(t));
    let h = s.history(TargetKind::Alert, "da-s").await.unwrap();
    let fields: Vec<_> = h.iter().filter_map(|e| e.field.as_deref()).collect();
    assert_eq!(
        fields,
        [
            "status",
            "resolvedDateTime",
            "classification",
            "determination"
        ]
    );
    assert!(h.iter().all(|e| e.actor.name == "tester"));
    // A pairing the domain refuses is an error, not a change.
    let bad = AlertChange {
        classification: Some(Classification::FalsePositive),
        determination: Some(Determination::Apt),
        ..Default::default()
    };
    assert!(matches!(
        s.update_alert(&g, "da-s", &bad, 2, None, t).await,
        Err(StoreError::Domain(_))
    ));
    assert_eq!(
        s.get_alert("da-s").await.unwrap().unwrap().record.version,
        2
    );
}

/// Assignment must name an enabled user; the stored name is the user's own spelling.
pub async fn assignment_needs_an_enabled_user(s: &dyn Store) {
    let t = now();
    s.ingest(
        vec![new_alert(record("da-a", None, t), vec![], b"{}")],
        Actor::producer("p"),
        t,
    )
    .await
    .unwrap();
    let g = grant("Security operator", None, Permission::AlertsManage);
    let bob = user(s, "Bob").await;
    let assign = |who: &str| AlertChange {
        assigned_to: Some(Some(who.to_string())),
        ..Default::default()
    };
    let u = s
        .update_alert(&g, "da-a", &assign("bob"), 1, None, t)
        .await
        .unwrap();
    assert_eq!(u.record.assigned_to.as_deref(), Some("Bob"));
    s.update_user(
        &bob,
        UserPatch {
            disabled: Some(true),
            ..Default::default()
        },
        Actor::system(),
        t,
    )
    .await
    .unwrap();
    let unassign = AlertChange {
        assigned_to: Some(None),
        ..Default::default()
    };
    s.update_alert(&g, "da-a", &unassign, 2, None, t)
        .await
        .unwrap();
    assert!(matches!(
        s.update_alert(&g, "da-a", &assign("Bob"), 3, None, t).await,
        Err(StoreError::Invalid {
            field: "assignedTo",
            ..
        })
    ));
    assert!(matches!(
        s.update_alert(&g, "da-a", &assign("nobody"), 3, None, t)
            .await,
        Err(StoreError::Invalid {
            field: "assignedTo",
            ..
        })
    ));
}

/// A bulk update chosen by an entity condition finds exactly the alerts naming that entity.
pub async fn bulk_update_by_entity(s: &dyn Store) {
    let t = now();
    let batch = (0..6)
        .map(|i| {
            let dev = if i % 3 == 0 { "ws-bulk" } else { "ws-other" };
            super::on_devices(&format!("da-be{i}"), t, i, &[dev])
        })
        .collect();
    s.ingest(batch, Actor::producer("p"), t).await.unwrap();
    let mut q = super::everything(500);
    q.condition = rampart_domain::condition::parse("entity.device:ws-bulk").unwrap();
    q.now = t;
    let change = AlertChange {
        add_tags: vec!["by-entity".into()],
        ..Default::default()
    };
    let all = grant("Security operator", None, Permission::AlertsManage);
    let sum = s
        .bulk_update(&all, BulkTarget::Query(Box::new(q)), &change, None, t)
        .await
        .unwrap();
    assert_eq!((sum.matched, sum.changed), (2, 2));
    for i in 0..6 {
        let tags = s
            .get_alert(&format!("da-be{i}"))
            .await
            .unwrap()
            .unwrap()
            .record
            .tags;
        assert_eq!(tags.len(), usize::from(i % 3 == 0), "da-be{i}");
    }
}

/// Bulk changes skip what the grant does not reach and report it; the rest apply.
pub async fn bulk_update_respects_scope(s: &dyn Store) {
    let t = now();
    let mut batch = Vec::new();
    for i in 0..6 {
        let mut r = record(&format!("da-b{i}"), None, t);
        if i % 2 == 1 {
            r.service_source = "microsoftDefenderForIdentity".into();
        }
        batch.push(new_alert(r, vec![], b"{}"));
    }
    s.ingest(batch, Actor::producer("p"), t).await.unwrap();
    let g = grant(
        "Security operator",
        Some(&["microsoftDefenderForEndpoint"]),
        Permission::AlertsManage,
    );
    let ids = (0..6)
        .map(|i| format!("da-b{i}"))
        .chain(["missing".to_string()])
        .collect();
    let change = AlertChange {
        add_tags: vec!["bulk".into()],
        ..Default::default()
    };
    let sum = s
        .bulk_update(&g, BulkTarget::Ids(ids), &change, Some("why"), t)
        .await
        .unwrap();
    assert_eq!((sum.matched, sum.changed, sum.forbidden.len()), (7, 3, 3));
    assert_eq!(sum.not_found, ["missing"]);
    assert_eq!(
        s.get_alert("da-b1")
            .await
            .unwrap()
            .unwrap()
            .record
            .tags
            .len(),
        0
    );
    assert_eq!(
        s.get_alert("da-b0").await.unwrap().unwrap().record.tags,
        ["bulk"]
    );
    assert!(s
        .history(TargetKind::Alert, "da-b0")
        .await
        .unwrap()
        .iter()
        .any(|e| e.text.as_deref() == Some("why")));
    // Renaming a tag renames it everywhere it is.
    let all = grant("Security operator", None, Permission::AlertsManage);
    assert_eq!(s.rename_tag(&all, "bulk", "wave", t).await.unwrap(), 3);
    assert_eq!(
        s.get_alert("da-b2").await.unwrap().unwrap().record.tags,
        ["wave"]
    );
}

/// Sessions expire, end on sign-out and when the user is disabled; tokens stop at
/// revocation; secrets are looked up by digest only.
pub async fn sessions_and_tokens_end(s: &dyn Store) {
    let t = now();
    let id = user(s, "carol").await;
    let later = t.plus_micros(3600 * 1_000_000);
    s.create_session(vec![1; 32], &id, "csrf", later, t)
        .await
        .unwrap();
    assert_eq!(s.session(&[1; 32], t).await.unwrap().unwrap().csrf, "csrf");
    assert!(
        s.session(&[1; 32], later).await.unwrap().is_none(),
        "expired"
    );
    assert!(s.session(&[2; 32], t).await.unwrap().is_none());
    s.create_session(vec![3; 32], &id, "c", later, t)
        .await
        .unwrap();
    s.delete_session(&[3; 32]).await.unwrap();
    assert!(
        s.session(&[3; 32], t).await.unwrap().is_none(),
        "signed out"
    );
    s.create_session(vec![4; 32], &id, "c", later, t)
        .await
        .unwrap();
    s.update_user(
        &id,
        UserPatch {
            role: Some("Security reader".into()),
            ..Default::default()
        },
        Actor::system(),
        t,
    )
    .await
    .unwrap();
    assert!(
        s.session(&[4; 32], t).await.unwrap().is_none(),
        "a role change ends sessions"
    );

    let tok = s
        .create_token(
            NewToken {
                name: "edr".into(),
                role: "Ingest only".into(),
                sources: None,
                digest: vec![9; 32],
            },
            Actor::system(),
            t,
        )
        .await
        .unwrap();
    assert_eq!(
        s.token_by_digest(&[9; 32]).await.unwrap().unwrap().token.id,
        tok.id
    );
    s.touch_token(&tok.id, later).await.unwrap();
    assert_eq!(s.list_tokens().await.unwrap()[0].last_used, Some(later));
    s.revoke_token(&tok.id, Actor::system(), t).await.unwrap();
    assert!(s.token_by_digest(&[9; 32]).await.unwrap().is_none());
    assert!(
        s.list_tokens().await.unwrap()[0].revoked.is_some(),
        "still listed"
    );
    let audit = s.audit(Some(&tok.id), 10).await.unwrap();
    assert_eq!(audit[0].action, "revoked", "newest first");
    assert!(matches!(
        s.revoke_token("tok-missing", Actor::system(), t).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.create_user(
            NewUser {
                username: "CAROL".into(),
                display_name: "x".into(),
                password_hash: "h".into(),
                role: "Security reader".into(),
                sources: None
            },
            Actor::system(),
            t
        )
        .await,
        Err(StoreError::Duplicate)
    ));
}
