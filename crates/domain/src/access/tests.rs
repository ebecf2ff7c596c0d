//! Note: that a [`Grant`] can only come from [`authorize`] is enforced by the compiler (private
//! fields, no constructor, no `Deserialize`), not by a test here.
use super::*;
use crate::history::ActorKind;
use crate::vocab::SERVICE_SOURCES;
use crate::DomainError;
use std::collections::BTreeSet;
use Permission as P;

const ENDPOINT: &str = "microsoftDefenderForEndpoint";
const IDENTITY: &str = "microsoftDefenderForIdentity";

/// The expected matrix, written out independently of `BUILTIN_ROLES` so a change to the table
/// has to be made twice, on purpose.
const EXPECTED: &[(&str, &[Permission])] = &[
    (
        "Global administrator",
        &[
            P::AlertsRead,
            P::AlertsManage,
            P::AlertsIngest,
            P::IncidentsRead,
            P::IncidentsManage,
            P::EmailRead,
            P::RulesManage,
            P::UsersManage,
            P::RolesManage,
            P::TokensManage,
            P::Export,
            P::SettingsManage,
            P::AuditRead,
        ],
    ),
    (
        "Security administrator",
        &[
            P::AlertsRead,
            P::AlertsManage,
            P::AlertsIngest,
            P::IncidentsRead,
            P::IncidentsManage,
            P::EmailRead,
            P::RulesManage,
            P::TokensManage,
            P::Export,
            P::SettingsManage,
            P::AuditRead,
        ],
    ),
    (
        "Security operator",
        &[
            P::AlertsRead,
            P::AlertsManage,
            P::IncidentsRead,
            P::IncidentsManage,
            P::EmailRead,
            P::Export,
        ],
    ),
    (
        "Global reader",
        &[P::AlertsRead, P::IncidentsRead, P::EmailRead, P::AuditRead],
    ),
    (
        "Security reader",
        &[P::AlertsRead, P::IncidentsRead, P::EmailRead, P::AuditRead],
    ),
    (
        "Compliance administrator",
        &[
            P::AlertsRead,
            P::IncidentsRead,
            P::EmailRead,
            P::AuditRead,
            P::Export,
        ],
    ),
    (
        "Organization management",
        &[
            P::AlertsRead,
            P::IncidentsRead,
            P::EmailRead,
            P::AuditRead,
            P::UsersManage,
            P::RolesManage,
        ],
    ),
    ("Ingest only", &[P::AlertsIngest]),
];

fn user(roles: Vec<RoleDef>) -> Principal {
    Principal::new(PrincipalKind::User, "u-1", "alice", roles)
}

fn role(name: &str) -> RoleDef {
    match builtin(name) {
        Some(r) => r,
        None => panic!("no built-in role {name}"),
    }
}

fn custom(name: &str, perms: &[Permission], sources: Option<&[&str]>) -> RoleDef {
    let sources = sources.map(|s| s.iter().map(|v| v.to_string()).collect());
    match RoleDef::custom(name, perms.iter().copied(), sources) {
        Ok(r) => r,
        Err(e) => panic!("custom role {name}: {e}"),
    }
}

fn all_sources() -> Vec<&'static str> {
    let mut v: Vec<&str> = SERVICE_SOURCES.iter().map(|(s, _, _)| *s).collect();
    v.push("thirdPartyEdr");
    v
}

#[test]
fn role_names_are_the_reference_products_in_fixed_order() {
    assert_eq!(
        ROLE_NAMES,
        &[
            "Global administrator",
            "Security administrator",
            "Security operator",
            "Global reader",
            "Security reader",
            "Compliance administrator",
            "Organization management",
            "Ingest only",
        ]
    );
    let names: Vec<String> = builtin_roles().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ROLE_NAMES);
    for r in builtin_roles() {
        assert!(r.builtin);
        assert_eq!(r.sources, None);
        assert_eq!(r.validate(), Ok(()));
    }
    let expected: Vec<&str> = EXPECTED.iter().map(|(n, _)| *n).collect();
    assert_eq!(expected, ROLE_NAMES);
}

#[test]
fn builtin_lookup_ignores_case_and_blanks() {
    assert_eq!(
        builtin("security READER").map(|r| r.name),
        Some("Security reader".to_string())
    );
    assert_eq!(
        builtin("  Global administrator ").map(|r| r.name),
        Some("Global administrator".to_string())
    );
    assert_eq!(builtin("Security"), None);
    assert_eq!(builtin(""), None);
}

#[test]
fn every_builtin_role_against_every_permission() {
    for (name, perms) in EXPECTED {
        let p = user(vec![role(name)]);
        for perm in Permission::ALL {
            let want = perms.contains(perm);
            assert_eq!(
                authorize(&p, *perm, None).is_ok(),
                want,
                "{name} × {perm} (no source)"
            );
            assert_eq!(
                authorize(&p, *perm, Some(ENDPOINT)).is_ok(),
                want,
                "{name} × {perm} on endpoint"
            );
            // Every built-in that reads alerts can read e-mail alerts too.
            assert_eq!(
                authorize(&p, *perm, Some(EMAIL_SOURCE)).is_ok(),
                want,
                "{name} × {perm} on e-mail"
            );
            assert_eq!(visible_sources(&p, *perm).is_all(), want);
        }
        let held: BTreeSet<Permission> = perms.iter().copied().collect();
        assert_eq!(p.permissions(), held, "{name}");
    }
}

#[test]
fn readers_never_change_anything() {
    for name in [
        "Global reader",
        "Security reader",
        "Compliance administrator",
    ] {
        let r = role(name);
        for perm in &r.permissions {
            assert!(!perm.changes_state(), "{name} holds {perm}");
            assert!(!perm.as_str().ends_with(".manage"), "{name} holds {perm}");
        }
        let p = user(vec![r]);
        for perm in Permission::ALL.iter().filter(|p| p.changes_state()) {
            assert!(authorize(&p, *perm, Some(ENDPOINT)).is_err());
        }
    }
    // Every *.manage permission changes state, so the check above covers them all.
    for perm in Permission::ALL {
        if perm.as_str().ends_with(".manage") {
            assert!(perm.changes_state(), "{perm}");
        }
    }
}

#[test]
fn builtin_reading_roles_all_see_email() {
    for r in builtin_roles() {
        if r.holds(P::AlertsRead) {
            assert!(r.holds(P::EmailRead), "{}", r.name);
        }
    }
}

#[test]
fn source_limited_role_grants_only_its_sources() {
    let r = custom("Endpoint triage", &[P::AlertsManage], Some(&["endpoint"]));
    assert_eq!(
        r.sources,
        Some(BTreeSet::from([ENDPOINT.to_string()])),
        "aliases resolve to Graph values"
    );
    assert!(r.holds(P::AlertsRead), "manage implies read");
    let p = user(vec![r]);

    assert!(authorize(&p, P::AlertsManage, Some(ENDPOINT)).is_ok());
    assert!(authorize(&p, P::AlertsRead, Some("ENDPOINT")).is_ok());
    assert_eq!(
        authorize(&p, P::AlertsRead, Some(IDENTITY)),
        Err(Denied {
            perm: P::AlertsRead,
            source: Some(IDENTITY.to_string())
        })
    );
    assert!(authorize(&p, P::IncidentsRead, Some(ENDPOINT)).is_err());

    // Without a source (opening the queue) the grant is limited by its scope.
    let g = match authorize(&p, P::AlertsRead, None) {
        Ok(g) => g,
        Err(e) => panic!("{e}"),
    };
    assert!(!g.scope().is_all());
    assert_eq!(g.scope().allow(), &BTreeSet::from([ENDPOINT.to_string()]));
    assert!(g.covers("endpoint"));
    assert!(!g.covers(IDENTITY));
    assert!(!g.covers(EMAIL_SOURCE));

    let scope = visible_sources(&p, P::AlertsRead);
    assert!(scope.permits(ENDPOINT));
    assert!(!scope.permits(IDENTITY));
    assert!(visible_sources(&p, P::IncidentsRead).is_empty());
}

#[test]
fn source_limited_roles_never_grant_tenant_wide_permissions() {
    let err = RoleDef::custom(
        "Endpoint rules",
        [P::AlertsRead, P::RulesManage],
        Some(vec!["endpoint".into()]),
    );
    assert!(
        matches!(err, Err(crate::DomainError::Invalid { ref field, .. }) if field == "permissions")
    );

    // Even if such a role is built by hand or read from a tampered row.
    let hand = RoleDef {
        name: "Hand made".into(),
        builtin: false,
        permissions: BTreeSet::from([P::RulesManage, P::UsersManage]),
        sources: Some(BTreeSet::from([ENDPOINT.to_string()])),
    };
    assert!(hand.validate().is_err());
    let p = user(vec![hand]);
    for perm in [P::RulesManage, P::UsersManage] {
        assert!(authorize(&p, perm, None).is_err());
        assert!(authorize(&p, perm, Some(ENDPOINT)).is_err());
        assert!(visible_sources(&p, perm).is_empty());
    }
}

#[test]
fn tenant_wide_permissions_ignore_the_source() {
    let p = user(vec![role("Security administrator")]);
    let g = match authorize(&p, P::RulesManage, Some(EMAIL_SOURCE)) {
        Ok(g) => g,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(g.source(), None);
    assert_eq!(
        authorize(&p, P::UsersManage, Some(ENDPOINT)),
        Err(Denied {
            perm: P::UsersManage,
            source: None
        })
    );
}

#[test]
fn permissions_union_across_roles() {
    let p = user(vec![
        custom("Endpoint readers", &[P::AlertsRead], Some(&[ENDPOINT])),
        custom("Identity readers", &[P::AlertsRead], Some(&["identity"])),
        custom("Incident viewers", &[P::IncidentsRead, P::EmailRead], None),
    ]);
    let alerts = visible_sources(&p, P::AlertsRead);
    assert!(!alerts.is_all());
    assert_eq!(
        alerts.allow(),
        &BTreeSet::from([ENDPOINT.to_string(), IDENTITY.to_string()])
    );
    assert!(visible_sources(&p, P::IncidentsRead).is_all());
    assert!(authorize(&p, P::AlertsRead, Some("microsoftSentinel")).is_err());
    assert!(authorize(&p, P::IncidentsRead, Some("microsoftSentinel")).is_ok());
    assert_eq!(
        p.permissions(),
        BTreeSet::from([P::AlertsRead, P::IncidentsRead, P::EmailRead])
    );
}

#[test]
fn email_alerts_need_email_read() {
    let no_mail = custom("Analysts", &[P::AlertsManage, P::Export], None);
    let p = user(vec![no_mail.clone()]);
    assert!(authorize(&p, P::AlertsRead, Some(ENDPOINT)).is_ok());
    let denied = authorize(&p, P::AlertsRead, Some("email"));
    assert_eq!(
        denied,
        Err(Denied {
            perm: P::EmailRead,
            source: Some(EMAIL_SOURCE.to_string())
        })
    );
    assert!(authorize(&p, P::AlertsManage, Some(EMAIL_SOURCE)).is_err());
    assert!(authorize(&p, P::Export, Some(EMAIL_SOURCE)).is_err());
    // Listing is allowed; the scope hides e-mail.
    assert!(authorize(&p, P::AlertsRead, None).is_ok());
    let scope = visible_sources(&p, P::AlertsRead);
    assert!(scope.is_all());
    assert_eq!(scope.deny(), &BTreeSet::from([EMAIL_SOURCE.to_string()]));
    assert!(scope.permits(ENDPOINT));
    assert!(scope.permits("thirdPartyEdr"));
    assert!(!scope.permits(EMAIL_SOURCE));
    assert!(!scope.permits("Email"));

    // email.read from another role counts (union)…
    let with_mail = user(vec![
        no_mail.clone(),
        custom("Mail", &[P::EmailRead], Some(&[EMAIL_SOURCE])),
    ]);
    assert!(authorize(&with_mail, P::AlertsManage, Some(EMAIL_SOURCE)).is_ok());
    assert!(visible_sources(&with_mail, P::AlertsRead).deny().is_empty());

    // …but not when it is limited to other sources.
    let misplaced = user(vec![
        no_mail,
        custom("Odd", &[P::EmailRead], Some(&[ENDPOINT])),
    ]);
    assert!(authorize(&misplaced, P::AlertsRead, Some(EMAIL_SOURCE)).is_err());

    // A role limited to e-mail alone, without email.read, would see nothing at all: it is
    // refused when made, and one stored before still grants nothing.
    let refused = RoleDef::custom("Mail triage", [P::AlertsRead], Some(vec!["email".into()]));
    assert!(
        matches!(&refused, Err(crate::DomainError::Invalid { field, .. }) if field == "permissions"),
        "{refused:?}"
    );
    let stored = RoleDef {
        name: "Mail triage".into(),
        builtin: false,
        permissions: [P::AlertsRead].into_iter().collect(),
        sources: Some([EMAIL_SOURCE.to_string()].into_iter().collect()),
    };
    assert!(stored.validate().is_ok(), "a stored one still reads back");
    // Delivering e-mail alerts needs no email.read.
    assert!(RoleDef::custom(
        "Mail gateway",
        [P::AlertsIngest],
        Some(vec!["email".into()])
    )
    .is_ok());
    let only_mail = user(vec![stored]);
    assert_eq!(
        authorize(&only_mail, P::AlertsRead, None),
        Err(Denied {
            perm: P::AlertsRead,
            source: None
        })
    );
    assert!(visible_sources(&only_mail, P::AlertsRead).is_empty());

    assert!(is_email_source("email"));
    assert!(is_email_source(EMAIL_SOURCE));
    assert!(!is_email_source(ENDPOINT));
}

#[test]
fn ingest_tokens_deliver_email_alerts_without_reading_them() {
    let t = Principal::new(
        PrincipalKind::Token,
        "t-9",
        "mail-gateway",
        vec![role("Ingest only")],
    );
    assert!(authorize(&t, P::AlertsIngest, Some(EMAIL_SOURCE)).is_ok());
    assert!(authorize(&t, P::AlertsRead, Some(EMAIL_SOURCE)).is_err());
    assert!(authorize(&t, P::AlertsRead, None).is_err());
}

#[test]
fn scope_and_authorize_agree() {
    let mut roles = builtin_roles();
    roles.extend([
        custom("A", &[P::AlertsManage], None),
        custom(
            "B",
            &[P::AlertsRead, P::Export],
            Some(&["endpoint", "email"]),
        ),
        custom("C", &[P::EmailRead], Some(&["email"])),
        custom("D", &[P::EmailRead], Some(&["identity"])),
        custom("E", &[P::IncidentsManage, P::AuditRead], None),
        custom("F", &[P::AlertsIngest], Some(&["thirdPartyEdr"])),
    ]);
    for a in &roles {
        for b in &roles {
            let p = user(vec![a.clone(), b.clone()]);
            for perm in Permission::ALL {
                let scope = visible_sources(&p, *perm);
                assert_eq!(
                    authorize(&p, *perm, None).is_ok(),
                    !scope.is_empty(),
                    "{} + {} × {perm}",
                    a.name,
                    b.name
                );
                for s in all_sources() {
                    let ok = authorize(&p, *perm, Some(s));
                    assert_eq!(
                        ok.is_ok(),
                        scope.permits(s),
                        "{} + {} × {perm} on {s}",
                        a.name,
                        b.name
                    );
                    if let Ok(g) = ok {
                        assert!(g.covers(s));
                    }
                }
            }
        }
    }
}

#[test]
fn custom_role_validation() {
    let ok = |name: &str| RoleDef::custom(name, [P::AlertsRead], None);
    assert!(ok("Tier 1").is_ok());
    for padded in ["  Tier 1  ", " Tier 1", "Tier 1\u{a0}"] {
        assert!(
            matches!(ok(padded), Err(DomainError::Invalid { ref field, .. }) if field == "name"),
            "{padded:?}"
        );
    }
    assert!(ok("").is_err());
    assert!(ok("   ").is_err());
    assert!(ok(&"x".repeat(MAX_ROLE_NAME_CHARS)).is_ok());
    assert!(
        ok(&"é".repeat(MAX_ROLE_NAME_CHARS)).is_ok(),
        "characters, not bytes"
    );
    assert!(ok(&"x".repeat(MAX_ROLE_NAME_CHARS + 1)).is_err());
    assert!(ok("Tier\n1").is_err());
    for name in ROLE_NAMES {
        assert!(ok(name).is_err(), "{name}");
        assert!(ok(&name.to_uppercase()).is_err(), "{name}");
        // Fullwidth letters and ideographic spaces fold to the built-in name.
        let wide: String = name
            .chars()
            .map(|c| match c {
                ' ' => '\u{3000}',
                c if c.is_ascii_graphic() => char::from_u32(u32::from(c) + 0xFEE0).unwrap(),
                c => c,
            })
            .collect();
        assert!(
            matches!(ok(&wide), Err(DomainError::Invalid { ref msg, .. }) if msg.contains("reads as the built-in role")),
            "{wide}"
        );
    }
    assert!(RoleDef::custom("Nothing", [], None).is_err());
    assert!(RoleDef::custom("No sources", [P::AlertsRead], Some(vec![])).is_err());
    assert!(RoleDef::custom("Blank source", [P::AlertsRead], Some(vec![" ".into()])).is_err());

    let r = match ok("Tier 1") {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert!(!r.builtin);
    assert_eq!(r.validate(), Ok(()));

    let m = custom("Managers", &[P::AlertsManage, P::IncidentsManage], None);
    assert_eq!(
        m.permissions,
        BTreeSet::from([
            P::AlertsRead,
            P::AlertsManage,
            P::IncidentsRead,
            P::IncidentsManage
        ]),
        "implied permissions are stored explicitly"
    );
}

#[test]
fn tampered_builtins_are_rejected() {
    let mut r = role("Security reader");
    r.permissions.insert(P::AlertsManage);
    assert!(r.validate().is_err());
    let mut r = role("Security reader");
    r.sources = Some(BTreeSet::from([ENDPOINT.to_string()]));
    assert!(r.validate().is_err());
    let fake = RoleDef {
        name: "Super admin".into(),
        builtin: true,
        permissions: BTreeSet::from([P::AlertsRead]),
        sources: None,
    };
    assert!(fake.validate().is_err());
}

#[test]
fn grant_carries_the_actor() {
    let p = user(vec![role("Security operator")]);
    let g = match authorize(&p, P::AlertsManage, Some("endpoint")) {
        Ok(g) => g,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(g.permission(), P::AlertsManage);
    assert_eq!(g.principal_id(), "u-1");
    assert_eq!(g.source(), Some(ENDPOINT));
    assert_eq!(g.actor().kind, ActorKind::User);
    assert_eq!(g.actor().name, "alice");

    let t = Principal::new(
        PrincipalKind::Token,
        "t-1",
        "siem-bridge",
        vec![role("Ingest only")],
    );
    let g = match authorize(&t, P::AlertsIngest, None) {
        Ok(g) => g,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(g.actor().kind, ActorKind::Token);
    assert_eq!(g.actor().name, "siem-bridge");
    assert_eq!(g.principal_id(), "t-1");
}

#[test]
fn denied_messages() {
    let d = Denied {
        perm: P::AlertsManage,
        source: None,
    };
    assert_eq!(d.to_string(), "permission alerts.manage required");
    let d = Denied {
        perm: P::EmailRead,
        source: Some(EMAIL_SOURCE.into()),
    };
    assert_eq!(
        d.to_string(),
        "permission email.read required for service source microsoftDefenderForOffice365"
    );
    let _: &dyn std::error::Error = &d;
}

#[test]
fn covers_prevents_handing_out_more_than_held() {
    let admin = user(vec![role("Security administrator")]);
    let reader = user(vec![role("Security reader")]);
    let operator = user(vec![role("Security operator")]);
    assert!(admin.covers(&role("Ingest only")));
    assert!(admin.covers(&role("Security operator")));
    assert!(!admin.covers(&role("Organization management")));
    assert!(!reader.covers(&role("Ingest only")));
    assert!(!reader.covers(&role("Security operator")));
    assert!(operator.covers(&custom(
        "Endpoint triage",
        &[P::AlertsManage],
        Some(&["endpoint"])
    )));
    assert!(operator.covers(&custom("No mail", &[P::AlertsManage], None)));
    assert!(!operator.covers(&custom("Audit", &[P::AuditRead], None)));

    let limited = user(vec![custom(
        "Endpoint triage",
        &[P::AlertsManage],
        Some(&["endpoint"]),
    )]);
    assert!(!limited.covers(&custom("All triage", &[P::AlertsManage], None)));
    let no_mail = user(vec![custom("No mail", &[P::AlertsRead], None)]);
    assert!(!no_mail.covers(&role("Security reader")));
    assert!(no_mail.covers(&custom("Identity", &[P::AlertsRead], Some(&["identity"]))));
    assert!(!no_mail.covers(&custom(
        "Mail",
        &[P::AlertsRead, P::EmailRead],
        Some(&["email"])
    )));
}

#[test]
fn wire_spellings_and_serde() {
    for p in Permission::ALL {
        assert_eq!(Permission::parse(p.as_str()), Some(*p));
        assert!(!p.label().is_empty());
    }
    assert_eq!(Permission::parse("alerts.read"), Some(P::AlertsRead));
    assert_eq!(Permission::parse("export"), Some(P::Export));
    assert_eq!(Permission::parse("Alerts.Read"), None);
    assert_eq!(
        serde_json::to_value(custom("Endpoint", &[P::AlertsRead], Some(&["endpoint"]))).ok(),
        Some(serde_json::json!({
            "name": "Endpoint",
            "builtin": false,
            "permissions": ["alerts.read"],
            "sources": ["microsoftDefenderForEndpoint"],
        }))
    );
    let back: Result<RoleDef, _> = serde_json::from_str(
        r#"{"name":"X","builtin":false,"permissions":["alerts.manage","email.read"],"sources":null}"#,
    );
    assert!(matches!(back, Ok(ref r) if r.holds(P::AlertsRead) && r.sources.is_none()));
    assert!(serde_json::from_str::<Permission>(r#""alerts.delete""#).is_err());
    assert_eq!(PrincipalKind::parse("token"), Some(PrincipalKind::Token));
}
