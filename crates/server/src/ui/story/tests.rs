use super::*;
use rampart_domain::vocab::{AlertStatus, Classification, Determination};
use serde_json::json;

fn rec(id: &str, first_secs: i64) -> AlertRecord {
    let t = Timestamp::from_secs(1_800_000_000 + first_secs);
    AlertRecord {
        id: id.into(),
        provider_alert_id: None,
        incident_id: None,
        title: format!("alert {id}"),
        category: None,
        severity: Severity::High,
        status: AlertStatus::New,
        classification: Classification::Unknown,
        determination: Determination::Unknown,
        service_source: "microsoftDefenderForEndpoint".into(),
        detection_source: "x".into(),
        investigation_state: None,
        assigned_to: None,
        tags: vec![],
        first_activity: t,
        last_activity: t,
        created: t,
        last_update: t,
        resolved: None,
        version: 1,
        impacted_assets: vec![],
    }
}

fn ts(s: i64) -> String {
    Timestamp::from_secs(1_800_000_000 + s).to_rfc3339()
}

fn proc_ev(pid: i64, ppid: i64, at: i64, pat: i64, image: &str, parent: &str) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.security.processEvidence",
        "processId": pid, "parentProcessId": ppid, "mdeDeviceId": "dev1",
        "processCreationDateTime": ts(at), "parentProcessCreationDateTime": ts(pat),
        "processCommandLine": format!("{image} --run"),
        "imageFile": {"fileName": image, "filePath": "C:\\x"},
        "parentProcessImageFile": {"fileName": parent},
        "userAccount": {"accountName": "alice", "domainName": "CORP"},
        "verdict": "suspicious"
    })
}

#[test]
fn two_alerts_on_one_lineage_make_one_tree_with_focus_and_neighbour() {
    let a = rec("a", 10);
    let b = rec("b", 30);
    let doc_a = json!({"evidence": [
        proc_ev(10, 1, 5, 0, "winword.exe", "explorer.exe"),
        proc_ev(20, 10, 8, 5, "powershell.exe", "winword.exe"),
        {"@odata.type": "#microsoft.graph.security.ipEvidence", "ipAddress": "203.0.113.9"},
    ]});
    let doc_b = json!({"evidence": [
        proc_ev(20, 10, 8, 5, "powershell.exe", "winword.exe"),
        proc_ev(30, 20, 25, 8, "mimikatz.exe", "powershell.exe"),
    ]});
    let st = Story::build(&a, &[(a.clone(), doc_a), (b.clone(), doc_b)]);
    // explorer (inferred) → winword → powershell → mimikatz
    assert_eq!(st.len(), 4);
    let steps = st.steps();
    let opened: Vec<(&str, usize)> = steps
        .iter()
        .filter_map(|s| s.node.map(|n| (n.image.as_str(), s.depth)))
        .collect();
    assert_eq!(
        opened,
        vec![
            ("explorer.exe", 0),
            ("winword.exe", 1),
            ("powershell.exe", 2),
            ("mimikatz.exe", 3)
        ]
    );
    // Every opened node is closed.
    assert_eq!(steps.iter().filter(|s| s.node.is_none()).count(), 4);
    let ps = steps
        .iter()
        .filter_map(|s| s.node)
        .find(|n| n.image == "powershell.exe")
        .unwrap();
    assert!(ps.has_focus(), "alert a is drawn on its deepest process");
    assert_eq!(ps.leaves.len(), 1);
    let mk = steps
        .iter()
        .filter_map(|s| s.node)
        .find(|n| n.image == "mimikatz.exe")
        .unwrap();
    assert_eq!(mk.alerts[0].relation, Relation::After);
    assert_eq!(st.neighbours(), (0, 1));
    assert!(steps[0].open, "the path to the focus is expanded");
}

#[test]
fn pid_reuse_makes_two_processes_and_cycles_do_not_hang() {
    let a = rec("a", 0);
    // Same pid 10, different creation times: two processes.
    let doc = json!({"evidence": [
        proc_ev(10, 1, 5, 0, "one.exe", "p.exe"),
        proc_ev(10, 1, 50, 0, "two.exe", "p.exe"),
        // A hostile cycle: 7's parent is 8 and 8's parent is 7.
        proc_ev(7, 8, 1, 2, "x.exe", "y.exe"),
        proc_ev(8, 7, 2, 1, "y.exe", "x.exe"),
    ]});
    let st = Story::build(&a, &[(a.clone(), doc)]);
    let images: Vec<String> = st
        .steps()
        .iter()
        .filter_map(|s| s.node.map(|n| n.image.clone()))
        .collect();
    assert!(images.contains(&"one.exe".to_string()) && images.contains(&"two.exe".to_string()));
    assert!(images.contains(&"x.exe".to_string()) && images.contains(&"y.exe".to_string()));
}

#[test]
fn entities_are_deduplicated_by_normalised_value_and_keep_roles() {
    let doc = json!({"evidence": [
        {"@odata.type": "#microsoft.graph.security.userEvidence", "roles": ["victim"],
         "userAccount": {"accountName": "alice", "domainName": "CORP", "userPrincipalName": "alice@contoso.com"}},
        {"@odata.type": "#microsoft.graph.security.userEvidence", "roles": ["compromised"],
         "userAccount": {"accountName": "ALICE", "domainName": "CORP"}},
        {"@odata.type": "#microsoft.graph.security.deviceEvidence", "deviceDnsName": "WS-17.corp.contoso.com"},
        {"@odata.type": "#microsoft.graph.security.fileEvidence", "fileDetails": {"fileName": "<img src=x onerror=alert(1)>.exe", "sha256": "ABC"}},
        {"@odata.type": "#microsoft.graph.security.somethingNewEvidence", "x": 1},
    ]});
    let es = entities(&doc);
    assert_eq!(es.len(), 3);
    assert_eq!(es[0].kind, EntityKind::User);
    assert_eq!(es[0].key, "alice");
    assert_eq!(es[0].roles, vec!["victim", "compromised"]);
    assert_eq!(es[1].key, "ws-17");
    assert_eq!(es[2].kind, EntityKind::FileSha256);
    assert_eq!(es[2].key, "abc");
    assert!(es[2]
        .facts
        .iter()
        .any(|(k, _)| k == "File details › File name"));
}
