use super::*;
use crate::timestamp::Timestamp;
use crate::vocab::Severity;

fn record() -> AlertRecord {
    let t = Timestamp::from_secs(1_700_000_000);
    AlertRecord {
        id: "da1".into(),
        provider_alert_id: None,
        incident_id: None,
        title: "t".into(),
        category: None,
        severity: Severity::High,
        status: AlertStatus::New,
        classification: Classification::Unknown,
        determination: Determination::Unknown,
        service_source: "microsoftDefenderForEndpoint".into(),
        detection_source: "antivirus".into(),
        investigation_state: None,
        assigned_to: None,
        tags: vec!["a".into()],
        first_activity: t,
        last_activity: t,
        created: t,
        last_update: t,
        resolved: None,
        version: 1,
        impacted_assets: vec![],
    }
}

fn now() -> Timestamp {
    Timestamp::from_secs(1_700_000_600)
}

#[test]
fn resolving_stamps_and_reopening_clears_resolved_time() {
    let mut r = record();
    let ch = AlertChange {
        status: Some(AlertStatus::Resolved),
        ..Default::default()
    };
    let out = ch.apply(&mut r, now()).unwrap();
    assert_eq!(r.resolved, Some(now()));
    assert_eq!(
        out.iter().map(|c| c.field).collect::<Vec<_>>(),
        ["status", "resolvedDateTime"]
    );
    let reopen = AlertChange {
        status: Some(AlertStatus::InProgress),
        ..Default::default()
    };
    reopen.apply(&mut r, now()).unwrap();
    assert_eq!(r.resolved, None);
    assert_eq!(r.status, AlertStatus::InProgress);
}

#[test]
fn pairing_is_enforced_and_a_stale_determination_resets() {
    let mut r = record();
    let bad = AlertChange {
        classification: Some(Classification::FalsePositive),
        determination: Some(Determination::Malware),
        ..Default::default()
    };
    assert!(matches!(bad.validate(), Err(DomainError::Pairing { .. })));
    let before = r.clone();
    assert!(bad.apply(&mut r, now()).is_err());
    assert_eq!(r, before, "a refused change alters nothing");

    let tp = AlertChange {
        classification: Some(Classification::TruePositive),
        determination: Some(Determination::Malware),
        ..Default::default()
    };
    tp.apply(&mut r, now()).unwrap();
    // Determination alone must fit the stored classification.
    let det_only = AlertChange {
        determination: Some(Determination::NotMalicious),
        ..Default::default()
    };
    assert!(det_only.apply(&mut r.clone(), now()).is_err());
    // A new classification alone drops a determination that no longer fits.
    let fp = AlertChange {
        classification: Some(Classification::FalsePositive),
        ..Default::default()
    };
    let out = fp.apply(&mut r, now()).unwrap();
    assert_eq!(r.determination, Determination::Unknown);
    assert!(out.iter().any(|c| c.field == "determination"));
}

#[test]
fn tags_add_remove_dedupe_and_validate() {
    let mut r = record();
    let ch = AlertChange {
        add_tags: vec!["b".into(), "a".into(), "b".into()],
        remove_tags: vec!["a".into()],
        ..Default::default()
    };
    ch.apply(&mut r, now()).unwrap();
    assert_eq!(r.tags, ["b"]);
    for bad in ["", " x", "x\u{0}", &"y".repeat(MAX_TAG_CHARS + 1)] {
        let ch = AlertChange {
            add_tags: vec![bad.to_string()],
            ..Default::default()
        };
        assert!(ch.validate().is_err(), "{bad:?}");
    }
    let both = AlertChange {
        tags: Some(vec![]),
        add_tags: vec!["x".into()],
        ..Default::default()
    };
    assert!(both.validate().is_err());
}

#[test]
fn no_op_changes_report_nothing() {
    let mut r = record();
    let ch = AlertChange {
        status: Some(AlertStatus::New),
        assigned_to: Some(None),
        tags: Some(vec!["a".into()]),
        ..Default::default()
    };
    assert!(ch.apply(&mut r, now()).unwrap().is_empty());
    assert_eq!(r.last_update, record().last_update);
}

#[test]
fn comments_are_bounded() {
    assert!(check_comment("ok").is_ok());
    assert!(check_comment("  ").is_err());
    assert!(check_comment(&"x".repeat(1024 * 1024)).is_err());
}

#[test]
fn sentinels_are_no_verdict_for_alerts_or_incidents() {
    use crate::incident::IncidentChange;
    let alert = AlertChange {
        determination: Some(Determination::UnknownFutureValue),
        ..Default::default()
    };
    let incident = IncidentChange {
        determination: Some(Determination::UnknownFutureValue),
        ..Default::default()
    };
    for e in [alert.validate(), incident.validate()] {
        assert!(
            matches!(&e, Err(DomainError::Invalid { field, .. }) if field == "determination"),
            "{e:?}"
        );
    }
    let classification = IncidentChange {
        classification: Some(Classification::UnknownFutureValue),
        ..Default::default()
    };
    assert!(matches!(
        classification.validate(),
        Err(DomainError::Invalid { field, .. }) if field == "classification"
    ));
}
