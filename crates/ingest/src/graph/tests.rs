use super::*;
use rampart_domain::entity::EntityKind as K;

const FIXTURE: &[u8] = include_bytes!("../../fixtures/graph_alert.json");

fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2026-11-23T12:00:00Z").unwrap()
}

fn parse(doc: &[u8]) -> Result<NewAlert> {
    let node = Node::parse(doc).map_err(|msg| IngestError::field_err("json", msg))?;
    normalise_alert(
        bytes::Bytes::copy_from_slice(doc),
        &node,
        &PrefixRegistry::default(),
        now(),
    )
}

fn with(field_json: &str) -> Vec<u8> {
    format!(r#"{{"providerAlertId":"p1","title":"t","severity":"low",{field_json}}}"#).into_bytes()
}

#[test]
fn graph_documents_are_accepted_as_is() {
    let a = parse(FIXTURE).unwrap();
    assert_eq!(a.record.id, "da637578995287051192_756343937");
    assert_eq!(a.record.severity, Severity::Medium);
    assert_eq!(a.document, FIXTURE, "stored byte for byte");
    let has = |k: K, v: &str| a.entities.iter().any(|e| e.kind == k && e.value == v);
    assert!(has(K::Device, "tempdns"));
    assert!(has(K::User, "alice"));
    assert!(has(K::User, "s-1-5-18"));
    assert!(has(
        K::FileSha256,
        "8963a19fb992ad9a76576c5638fd68292cffb9aaac29eb8285f9abf6196a7dec"
    ));
    assert!(has(K::FileName, "services.exe"));
    assert!(has(K::Ip, "fe80::1"));
    assert!(a
        .entities
        .iter()
        .any(|e| e.kind == K::Process && e.value.contains("|4780|")));
    assert_eq!(a.record.impacted_assets[0].name, "tempDns.corp.contoso.com");
    assert!(a.record.first_activity < a.record.last_activity);
}

#[test]
fn missing_id_is_derived_and_stable() {
    let a = parse(&with(r#""serviceSource":"microsoftDefenderForOffice365""#)).unwrap();
    let b = parse(&with(r#""serviceSource":"microsoftDefenderForOffice365""#)).unwrap();
    assert!(a.record.id.starts_with("fa"));
    assert_eq!(a.record.id, b.record.id);
    let err = parse(br#"{"title":"t","severity":"low"}"#).unwrap_err();
    assert_eq!(err.field(), Some("id"));
}

#[test]
fn wrong_types_are_rejected_never_coerced() {
    let cases: &[(&str, &str)] = &[
        (r#""title2":1,"severity2":"x","status":1"#, "status"),
        (
            r##""evidence":[{"@odata.type":"#microsoft.graph.security.processEvidence","processId":"4242"}]"##,
            "evidence[0].processId",
        ),
        (
            r##""evidence":[{"@odata.type":"#microsoft.graph.security.processEvidence","processId":18446744073709551615}]"##,
            "evidence[0].processId",
        ),
        (
            r##""evidence":[{"@odata.type":"#microsoft.graph.security.deviceEvidence","rbacGroupId":4294967296}]"##,
            "evidence[0].rbacGroupId",
        ),
        (r#""evidence":[1]"#, "evidence[0]"),
        (r#""evidence":{}"#, "evidence"),
        (r#""mitreTechniques":["T1",2]"#, "mitreTechniques[1]"),
        (
            r#""firstActivityDateTime":"2021-04-26T07:45:50""#,
            "firstActivityDateTime",
        ),
        (
            r#""lastActivityDateTime":"10000-01-01T00:00:00Z""#,
            "lastActivityDateTime",
        ),
        (
            r#""classification":"falsePositive","determination":"malware""#,
            "determination",
        ),
        (r#""classification":"bogus""#, "classification"),
        (r#""assignedTo":false"#, "assignedTo"),
        (
            r##""evidence":[{"@odata.type":"#microsoft.graph.security.fileEvidence","fileDetails":{"fileSize":1.5}}]"##,
            "evidence[0].fileDetails.fileSize",
        ),
    ];
    for (json, field) in cases {
        let err = parse(&with(json)).unwrap_err();
        assert_eq!(err.field(), Some(*field), "{json}: {err}");
    }
}

#[test]
fn required_fields_and_limits() {
    assert_eq!(
        parse(br#"{"id":"x","severity":"low"}"#)
            .unwrap_err()
            .field(),
        Some("title")
    );
    assert_eq!(
        parse(br#"{"id":"x","title":"","severity":"low"}"#)
            .unwrap_err()
            .field(),
        Some("title")
    );
    assert_eq!(
        parse(br#"{"id":"x","title":"t"}"#).unwrap_err().field(),
        Some("severity")
    );
    assert_eq!(
        parse(br#"{"id":"x","title":"t","severity":"critical"}"#)
            .unwrap_err()
            .field(),
        Some("severity")
    );
    assert_eq!(
        parse(br#"{"id":"  ","title":"t","severity":"low"}"#)
            .unwrap_err()
            .field(),
        Some("id")
    );
    let long = format!(
        r#"{{"id":"x","title":"{}","severity":"low"}}"#,
        "a".repeat(MAX_TITLE_BYTES + 1)
    );
    assert_eq!(parse(long.as_bytes()).unwrap_err().field(), Some("title"));
}

#[test]
fn hostile_strings_are_kept_verbatim() {
    let doc = br#"{"id":"x","title":"<script>alert(1)</script>\u0000=cmd|' /C calc'!A0 \u202e","severity":"high"}"#;
    let a = parse(doc).unwrap();
    assert_eq!(
        a.record.title,
        "<script>alert(1)</script>\0=cmd|' /C calc'!A0 \u{202e}"
    );
}

#[test]
fn unknown_evolvable_values_are_kept() {
    let a = parse(&with(
        r##""serviceSource":"acmeEdr","detectionSource":"acmeRules","evidence":[{"@odata.type":"#microsoft.graph.security.fooEvidence","verdict":"weird","roles":["newRole"]},{"no":"type"}]"##,
    ))
    .unwrap();
    assert_eq!(a.record.service_source, "acmeEdr");
    assert!(a.record.id.starts_with("xx"));
}

#[test]
fn a_blank_dns_name_falls_back_to_the_host_name() {
    let a = parse(&with(
        r##""evidence":[{"@odata.type":"#microsoft.graph.security.deviceEvidence","deviceDnsName":"  ","hostName":"WS-20"}]"##,
    ))
    .unwrap();
    assert!(
        a.entities
            .iter()
            .any(|e| e.kind == K::Device && e.value == "ws-20"),
        "{:?}",
        a.entities
    );
}

#[test]
fn times_far_ahead_of_the_clock_are_refused() {
    for field in [
        "createdDateTime",
        "firstActivityDateTime",
        "lastActivityDateTime",
        "lastUpdateDateTime",
        "resolvedDateTime",
    ] {
        let e = parse(&with(&format!(r#""{field}":"9999-12-31T00:00:00Z""#))).unwrap_err();
        assert_eq!(e.field(), Some(field), "{e}");
        assert!(e.to_string().contains("ahead of the server's clock"), "{e}");
    }
    // Clock skew within the hour is the producer's and is kept.
    let a = parse(&with(r#""lastActivityDateTime":"2026-11-23T12:59:00Z""#)).unwrap();
    assert_eq!(
        a.record.last_activity.to_rfc3339(),
        "2026-11-23T12:59:00.000000Z"
    );
    assert!(parse(&with(r#""lastActivityDateTime":"2026-11-23T13:00:01Z""#)).is_err());
}

#[test]
fn tags_follow_the_triage_rules() {
    for (tags, field) in [
        (r#"[""]"#, "tags[0]"),
        (r#"["ok"," lead"]"#, "tags[1]"),
        (r#"["a\u0000b"]"#, "tags[0]"),
    ] {
        let e = parse(&with(&format!(r#""tags":{tags}"#))).unwrap_err();
        assert_eq!(e.field(), Some(field), "{tags}: {e}");
    }
    let long = format!(r#""tags":["{}"]"#, "x".repeat(500));
    assert_eq!(parse(&with(&long)).unwrap_err().field(), Some("tags[0]"));
    let many: Vec<String> = (0..101).map(|i| format!("\"t{i}\"")).collect();
    let e = parse(&with(&format!(r#""tags":[{}]"#, many.join(",")))).unwrap_err();
    assert_eq!(e.field(), Some("tags"));
    // Repeats are folded before counting.
    let a = parse(&with(r#""tags":["dup","dup","x"]"#)).unwrap();
    assert_eq!(a.record.tags, ["dup", "x"]);
}
