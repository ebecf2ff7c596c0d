use super::*;
use crate::alert::AlertRecord;
use crate::timestamp::DAY_MICROS;
use proptest::prelude::*;

/// 2026-06-01T12:00:00Z.
const NOW: Timestamp = Timestamp::from_secs(1_780_315_200);

fn record() -> AlertRecord {
    AlertRecord {
        id: "da1".into(),
        provider_alert_id: None,
        incident_id: Some("17".into()),
        title: "Mimikatz credential dump on WS-17".into(),
        category: None,
        severity: Severity::Medium,
        status: AlertStatus::New,
        classification: Classification::Unknown,
        determination: Determination::Unknown,
        service_source: "microsoftDefenderForEndpoint".into(),
        detection_source: "antivirus".into(),
        investigation_state: None,
        assigned_to: None,
        tags: vec!["vip".into(), "needs review".into()],
        first_activity: NOW.plus_micros(-3 * DAY_MICROS),
        last_activity: NOW.plus_micros(-DAY_MICROS),
        created: NOW.plus_micros(-DAY_MICROS),
        last_update: NOW,
        resolved: None,
        version: 1,
        impacted_assets: vec![],
    }
}

fn entities() -> Vec<EntityKey> {
    vec![
        EntityKey {
            kind: EntityKind::Device,
            value: "ws-17".into(),
        },
        EntityKey {
            kind: EntityKind::User,
            value: "alice".into(),
        },
    ]
}

fn matches_rec(q: &str, r: &AlertRecord) -> bool {
    let c = parse(q).unwrap_or_else(|e| panic!("{q:?}: {e}"));
    let es = entities();
    c.eval(
        &AlertFacts {
            record: r,
            entities: &es,
        },
        NOW,
    )
}

fn matches(q: &str) -> bool {
    matches_rec(q, &record())
}

/// The error column and message for a query that must fail.
fn err(q: &str) -> (usize, String) {
    match parse(q) {
        Err(DomainError::Query { col, msg }) => (col, msg),
        other => panic!("{q:?}: expected a query error, got {other:?}"),
    }
}

fn single(q: &str) -> Term {
    let mut c = parse(q).unwrap();
    assert_eq!(c.terms.len(), 1, "{q:?}");
    c.terms.remove(0)
}

#[test]
fn blank_matches_everything() {
    for q in ["", "   ", "\t\n "] {
        let c = parse(q).unwrap();
        assert!(c.is_empty());
        assert!(matches(q));
    }
    assert!(!parse("x").unwrap().is_empty());
}

#[test]
fn parses_each_form() {
    assert_eq!(
        single("severity:high,Medium").pred,
        Pred::Severity(Cmp::AnyOf(vec![Severity::High, Severity::Medium]))
    );
    assert_eq!(
        single("SEVERITY>=low").pred,
        Pred::Severity(Cmp::Ord(Op::Ge, Severity::Low))
    );
    for (q, op) in [
        ("severity<low", Op::Lt),
        ("severity<=low", Op::Le),
        ("severity>low", Op::Gt),
    ] {
        assert_eq!(
            single(q).pred,
            Pred::Severity(Cmp::Ord(op, Severity::Low)),
            "{q}"
        );
    }
    assert_eq!(
        single("status:INPROGRESS,new").pred,
        Pred::Status(vec![AlertStatus::InProgress, AlertStatus::New])
    );
    assert_eq!(
        single("classification:truepositive").pred,
        Pred::Classification(vec![Classification::TruePositive])
    );
    assert_eq!(
        single("determination:Malware").pred,
        Pred::Determination(vec![Determination::Malware])
    );
    assert_eq!(
        single("source:endpoint,CustomThing").pred,
        Pred::Str(
            StrField::ServiceSource,
            vec!["microsoftDefenderForEndpoint".into(), "CustomThing".into()]
        )
    );
    let t = single("-tag:benign");
    assert!(t.negated);
    assert_eq!(t.pred, Pred::Tag(vec!["benign".into()]));
    assert_eq!(
        single("assignee:alice@corp.com").pred,
        Pred::Str(StrField::AssignedTo, vec!["alice@corp.com".into()])
    );
    assert_eq!(
        single("entity.device:\"WS 17.corp.local\",WS-1").pred,
        Pred::Entity(EntityKind::Device, vec!["ws 17".into(), "ws-1".into()])
    );
    assert_eq!(
        single("Entity.File.SHA256:ABC").pred,
        Pred::Entity(EntityKind::FileSha256, vec!["abc".into()])
    );
    assert_eq!(single("MimiKatz").pred, Pred::Text("mimikatz".into()));
    let t = single("-\"Credential Dump\"");
    assert!(t.negated);
    assert_eq!(t.pred, Pred::Text("credential dump".into()));
    assert_eq!(parse("a  b\tc").unwrap().terms.len(), 3);
}

#[test]
fn quoting_and_escapes() {
    assert_eq!(
        single(r#"tag:"a,b","say \"hi\"","c\\d",plain"#).pred,
        Pred::Tag(vec![
            "a,b".into(),
            "say \"hi\"".into(),
            "c\\d".into(),
            "plain".into()
        ])
    );
    // A backslash before anything else is kept, as Windows names need.
    assert_eq!(
        single(r#"assignedTo:"CORP\alice""#).pred,
        Pred::Str(StrField::AssignedTo, vec!["CORP\\alice".into()])
    );
    assert_eq!(single(r#""a:b <c>""#).pred, Pred::Text("a:b <c>".into()));
}

#[test]
fn times_absolute_and_relative() {
    assert_eq!(
        single("lastActivity<2026-01-01T00:00:00Z").pred,
        Pred::Time(
            TimeField::LastActivity,
            Cmp::Ord(
                Op::Lt,
                TimeValue::At(Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").unwrap())
            )
        )
    );
    let ago = |q: &str| match single(q).pred {
        Pred::Time(_, Cmp::Ord(_, TimeValue::Ago(m))) => m,
        p => panic!("{q}: {p:?}"),
    };
    assert_eq!(ago("created>now"), 0);
    assert_eq!(ago("created>NOW-45s"), 45_000_000);
    assert_eq!(ago("created>now-30m"), 30 * 60_000_000);
    assert_eq!(ago("created>now-12h"), 12 * 3_600_000_000);
    assert_eq!(ago("createdDateTime>now-7d"), 7 * DAY_MICROS);
    assert_eq!(ago("firstActivityDateTime>now-2w"), 14 * DAY_MICROS);
    assert_eq!(
        TimeValue::Ago(DAY_MICROS).resolve(NOW),
        NOW.plus_micros(-DAY_MICROS)
    );
    assert_eq!(
        TimeValue::Ago(i64::MAX).resolve(NOW).micros(),
        NOW.micros() - i64::MAX
    );

    // Relative to the `now` passed in, never the wall clock.
    assert!(matches("lastActivity>=now-1d"));
    assert!(!matches("lastActivity>now-1d"));
    assert!(matches("lastActivity:now-1d"));
    assert!(matches("firstActivity<now-2d lastUpdate>=now"));
    assert!(matches("lastActivity>2026-05-01T00:00:00+02:00"));
    let c = parse("lastActivity>now-1h").unwrap();
    let r = record();
    let es = entities();
    let facts = AlertFacts {
        record: &r,
        entities: &es,
    };
    assert!(!c.eval(&facts, NOW));
    assert!(c.eval(&facts, NOW.plus_micros(-DAY_MICROS)));
}

#[test]
fn severity_compares_rank() {
    assert!(matches("severity>=medium"));
    assert!(matches("severity>low severity<high severity<=medium"));
    assert!(!matches("severity>medium"));
    assert!(matches("severity:high,medium"));
    assert!(matches("-severity:low"));
    let mut r = record();
    r.severity = Severity::UnknownFutureValue;
    assert!(matches_rec("severity:unknown", &r), "same rank as unknown");
    assert!(matches_rec("severity<informational", &r));
}

#[test]
fn strings_are_exact_but_enums_and_names_are_not() {
    assert!(matches("status:NEW"));
    assert!(matches("detectionSource:antivirus"));
    assert!(!matches("detectionSource:Antivirus"));
    assert!(matches("source:ENDPOINT"));
    assert!(matches("serviceSource:MicrosoftDefenderForEndpoint"));
    assert!(matches("title:\"Mimikatz credential dump on WS-17\""));
    assert!(!matches("title:\"mimikatz credential dump on ws-17\""));
    assert!(!matches("title:Mimikatz"));
    assert!(matches("id:da1 -id:da2 incidentId:17,18"));
    assert!(matches("tag:vip tags:\"needs review\" -tag:VIP"));
    assert!(!matches("tag:benign"));
}

#[test]
fn unset_optionals_equal_nothing_and_their_negation_holds() {
    for f in [
        "category",
        "investigationState",
        "assignedTo",
        "providerAlertId",
    ] {
        assert!(!matches(&format!("{f}:x")), "{f}");
        assert!(matches(&format!("-{f}:x")), "{f}");
    }
    let mut r = record();
    r.assigned_to = Some("alice".into());
    assert!(matches_rec("assignedTo:bob,alice", &r));
    assert!(!matches_rec("-assignedTo:alice", &r));
    assert!(matches_rec("-assignedTo:Alice", &r));
    r.incident_id = None;
    assert!(!matches_rec("incidentId:17", &r));
    assert!(matches_rec("-incidentId:17", &r));
}

#[test]
fn entities_normalise_on_both_sides() {
    assert!(matches("entity.device:WS-17.corp.local"));
    assert!(matches("entity.device:\"ws-17\""));
    assert!(matches("entity.user:CORP\\Alice"));
    assert!(matches("entity.user:alice@corp.example.com,bob"));
    assert!(!matches("entity.user:bob"));
    assert!(matches("-entity.user:bob"));
    assert!(!matches("entity.mailbox:alice"), "kind matters");
}

#[test]
fn free_text_folds_ascii_case_only() {
    assert!(matches("mimikatz"));
    assert!(matches("\"CREDENTIAL DUMP\" ws-17"));
    assert!(!matches("\"credential  dump\""));
    assert!(matches("-ransomware"));
    let mut r = record();
    r.title = "Caf\u{c9} \u{212A}erberos a\0b".into();
    assert!(matches_rec("caf\u{c9}", &r));
    assert!(!matches_rec("caf\u{e9}", &r), "É is not ASCII");
    assert!(
        !matches_rec("kerberos", &r),
        "the Kelvin sign is not an ASCII K"
    );
    assert!(matches_rec("\u{212A}ERBEROS", &r));
    assert!(matches_rec("\"a\0b\"", &r));
}

#[test]
fn error_columns_point_at_the_token() {
    let (col, msg) = err("severity:high foo:bar");
    assert_eq!(col, 15);
    assert!(
        msg.contains("unknown field \"foo\"") && msg.contains("assignedTo"),
        "{msg}"
    );
    assert_eq!(err("-nope:1").0, 2);
    assert!(err("entity.printer:x").1.contains("file.sha256"));

    let (col, msg) = err("status:new,closed");
    assert_eq!(col, 12);
    assert!(msg.contains("inProgress"), "{msg}");
    assert_eq!(err("severity:urgent").0, 10);
    assert_eq!(err("severity>=\"urgent\"").0, 11);

    let (col, msg) = err("tag:a title:\"unterminated");
    assert_eq!(col, 13);
    assert!(msg.contains("unterminated"), "{msg}");
    assert_eq!(err("\"abc").0, 1);
    assert_eq!(err(r#"tag:"a\""#).0, 5);

    let (col, msg) = err("tag>=x");
    assert_eq!(col, 4);
    assert!(msg.contains("':'"), "{msg}");
    assert_eq!(err("entity.ip<1.2.3.4").0, 10);

    let (col, msg) = err("lastActivity<yesterday");
    assert_eq!(col, 14);
    assert!(msg.contains("now-7d"), "{msg}");
    assert_eq!(err("created>now-7y").0, 9);
    assert_eq!(err("created>now-d").0, 9);
    assert_eq!(err("created>now+1d").0, 9);
    assert_eq!(err("created>now-99999999999999w").0, 9);

    // Missing things are reported one past the end.
    assert_eq!(err("tag:").0, 5);
    assert_eq!(err("tag: x").0, 5);
    assert_eq!(err("tag:a,").0, 7);
    assert_eq!(err("tag:a,,b").0, 7);
    assert_eq!(err("tag:\"\"").0, 5);
    assert_eq!(err("\"\"").0, 1);
    assert_eq!(err("a - b").0, 3);
    assert_eq!(err("--a").0, 2);
    assert_eq!(err(":x").0, 1);
    assert_eq!(err("severity=high").0, 9);
    assert_eq!(err("foo\"bar\"").0, 4);
    assert_eq!(err("tag:a\"b\"").0, 6);
    assert_eq!(err("tag:\"a\"b").0, 8);
    assert_eq!(err("\"a\"b").0, 4);
    assert_eq!(err("severity>low,high").0, 14);
    assert_eq!(err("entity.user:\"  \"").0, 13);
    assert_eq!(err("a OR b").0, 3);
    assert!(parse("a \"OR\" b or").is_ok());
    // Columns count characters, not bytes.
    assert_eq!(err("é ü nope:x").0, 5);
}

#[test]
fn limits() {
    let long = "a".repeat(MAX_QUERY_CHARS);
    assert!(parse(&long).is_ok());
    assert_eq!(err(&format!("{long}b")).0, MAX_QUERY_CHARS + 1);

    let terms = vec!["x"; MAX_TERMS].join(" ");
    assert!(parse(&terms).is_ok());
    assert_eq!(err(&format!("{terms} y")).0, 2 * MAX_TERMS + 1);

    let values: Vec<String> = (0..MAX_VALUES).map(|i| i.to_string()).collect();
    let q = format!("tag:{}", values.join(","));
    assert!(parse(&q).is_ok());
    assert_eq!(err(&format!("{q},z")).0, q.chars().count() + 2);
}

#[test]
fn all_terms_must_hold() {
    assert!(matches(
        "severity:medium status:new mimikatz entity.device:ws-17"
    ));
    assert!(!matches("severity:medium status:resolved"));
}

proptest! {
    #[test]
    fn never_panics_and_errors_point_inside(s in any::<String>()) {
        check_error_column(&s);
    }

    #[test]
    fn never_panics_on_grammar_soup(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("severity"), Just("tag"), Just("entity.device"), Just("lastActivity"),
                Just("now-"), Just("7d"), Just(":"), Just("<"), Just(">="), Just("="),
                Just(","), Just("\""), Just("\\"), Just("-"), Just(" "), Just("high"),
                Just("2026-01-01T00:00:00Z"), Just("é"), Just("x"), Just("OR"), Just("\0"),
            ],
            0..24,
        )
    ) {
        check_error_column(&parts.concat());
    }
}

fn check_error_column(s: &str) {
    let r = record();
    let es = entities();
    match parse(s) {
        Ok(c) => {
            // Evaluation must not panic either, at any `now`.
            let facts = AlertFacts {
                record: &r,
                entities: &es,
            };
            c.eval(&facts, NOW);
            c.eval(&facts, Timestamp::from_micros(i64::MIN));
        }
        Err(DomainError::Query { col, .. }) => {
            assert!(col >= 1 && col <= s.chars().count() + 1, "{s:?}: col {col}");
        }
        Err(e) => panic!("{s:?}: unexpected error {e:?}"),
    }
}

#[cfg(feature = "proptest")]
mod generated {
    use super::super::arbitrary::{arb_alert, arb_alerts, arb_condition, ARB_NOW};
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    proptest! {
        #[test]
        fn generated_conditions_parse(q in arb_condition()) {
            prop_assert!(parse(&q).is_ok(), "{:?}: {:?}", q, parse(&q));
        }

        #[test]
        fn generated_alerts_are_well_formed((r, es) in arb_alert()) {
            prop_assert!(es.windows(2).all(|w| w[0] < w[1]), "distinct, sorted keys");
            prop_assert!(r.first_activity <= r.last_activity);
            prop_assert!(crate::vocab::check_pairing(r.classification, r.determination).is_ok());
            let mut tags = r.tags.clone();
            tags.dedup();
            prop_assert_eq!(tags.len(), r.tags.len());
        }

        #[test]
        fn generated_batches_have_distinct_ids(alerts in arb_alerts(8)) {
            let ids: std::collections::BTreeSet<_> = alerts.iter().map(|(r, _)| &r.id).collect();
            prop_assert_eq!(ids.len(), alerts.len());
        }
    }

    /// The differential test is only as good as its hit rate: single terms must match some
    /// generated alerts and miss others.
    #[test]
    fn generated_terms_hit_and_miss() {
        let mut runner = TestRunner::deterministic();
        let (mut hits, mut misses) = (0, 0);
        for _ in 0..2000 {
            let q = arb_condition().new_tree(&mut runner).unwrap().current();
            let (r, es) = arb_alert().new_tree(&mut runner).unwrap().current();
            let c = parse(&q).unwrap();
            let Some(t) = c.terms.first() else { continue };
            let facts = AlertFacts {
                record: &r,
                entities: &es,
            };
            if t.pred.eval(&facts, ARB_NOW) {
                hits += 1;
            } else {
                misses += 1;
            }
        }
        assert!(hits > 300 && misses > 300, "hits {hits}, misses {misses}");
    }
}
