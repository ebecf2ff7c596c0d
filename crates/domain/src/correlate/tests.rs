use super::*;
use crate::entity::normalise;
use std::collections::HashMap;

fn key(kind: EntityKind, raw: &str) -> EntityKey {
    EntityKey {
        kind,
        value: normalise(kind, raw).unwrap(),
    }
}

fn h(hours: i64) -> Timestamp {
    Timestamp::from_secs(1_800_000_000 + hours * 3600)
}

/// Applies effects the way the store does, so tests see final placements.
#[derive(Default)]
struct World {
    engine: Option<Correlator>,
    alert_incident: HashMap<String, String>,
    redirect: HashMap<String, String>,
    reasons: HashMap<String, Vec<Reason>>,
    /// Each merge's reason, as the incident history shows it.
    merged_via: Vec<Reason>,
    next: u64,
}

impl World {
    fn new(cfg: CorrelationConfig) -> Self {
        let allow = cfg.allow_keys().unwrap();
        World {
            engine: Some(Correlator::new(&cfg, allow)),
            ..Default::default()
        }
    }
    fn add(&mut self, id: &str, at: Timestamp, keys: &[EntityKey]) -> String {
        self.run(id, at, keys, false)
    }
    /// A re-send of a placed alert with `keys` (all it names now).
    fn resend(&mut self, id: &str, at: Timestamp, keys: &[EntityKey]) -> String {
        self.run(id, at, keys, true)
    }
    fn run(&mut self, id: &str, at: Timestamp, keys: &[EntityKey], again: bool) -> String {
        // Every other alert comes with its digests, as ingest gives them, so every scenario
        // runs both paths.
        let with_digests = self.alert_incident.len().is_multiple_of(2);
        let digests: Vec<i64> = keys.iter().map(|k| value_digest(&k.value)).collect();
        let mut engine = self.engine.take().unwrap();
        let next = &mut self.next;
        let mut mint = || {
            *next += 1;
            format!("inc-{next}")
        };
        let a = AlertIn {
            id,
            at,
            keys,
            digests: with_digests.then_some(digests.as_slice()),
        };
        let effects = if again {
            engine.resend(a, &mut mint)
        } else {
            engine.place(a, &mut mint)
        };
        for e in effects {
            match e {
                Effect::NewIncident { .. } => {}
                Effect::Link { incident, via } => {
                    let reasons = shared_reasons(id, keys, &via);
                    self.alert_incident
                        .insert(id.to_string(), incident.to_string());
                    self.reasons
                        .entry(id.to_string())
                        .or_default()
                        .extend(reasons);
                }
                Effect::Merge { from, into, via } => {
                    self.merged_via.push(via);
                    for v in self.alert_incident.values_mut() {
                        if **v == *from {
                            *v = into.to_string();
                        }
                    }
                    self.redirect.insert(from.to_string(), into.to_string());
                }
                Effect::Split {
                    alert, incident, ..
                } => {
                    self.alert_incident
                        .insert(alert.to_string(), incident.to_string());
                }
            }
        }
        self.engine = Some(engine);
        self.alert_incident[id].clone()
    }
    fn incidents(&self) -> std::collections::BTreeSet<&String> {
        self.alert_incident.values().collect()
    }
}

#[test]
fn same_device_within_the_window_joins_and_outside_starts_anew() {
    let mut w = World::new(CorrelationConfig::default());
    let a = w.add(
        "a1",
        h(0),
        &[key(EntityKind::Device, "WS-17.corp.contoso.com")],
    );
    let b = w.add("a2", h(5), &[key(EntityKind::Device, "ws-17")]);
    assert_eq!(a, b, "short name ≡ FQDN, case-insensitive");
    assert_eq!(w.reasons["a2"][0].kind, EntityKind::Device);
    assert_eq!(w.reasons["a2"][0].rule, RULE_SHARED_ENTITY);
    let c = w.add("a3", h(5 + 25), &[key(EntityKind::Device, "ws-17")]);
    assert_ne!(a, c, "25 h later is outside the 24 h window");
}

#[test]
fn accounts_meet_across_netbios_upn_and_sid_spellings() {
    let mut w = World::new(CorrelationConfig::default());
    let a = w.add("a1", h(0), &[key(EntityKind::User, "CORP\\alice")]);
    let b = w.add(
        "a2",
        h(1),
        &[key(EntityKind::User, "alice@corp.contoso.com")],
    );
    assert_eq!(a, b);
    let sid = "S-1-5-21-111-222-333-1104";
    let c = w.add("a3", h(1), &[key(EntityKind::User, sid)]);
    let d = w.add("a4", h(2), &[key(EntityKind::User, &sid.to_lowercase())]);
    assert_eq!(c, d);
}

#[test]
fn a_bridging_alert_merges_into_the_older_incident() {
    let mut w = World::new(CorrelationConfig::default());
    let first = w.add("a1", h(0), &[key(EntityKind::Device, "ws-1")]);
    let second = w.add("a2", h(1), &[key(EntityKind::User, "bob")]);
    assert_ne!(first, second);
    let bridge = w.add(
        "a3",
        h(2),
        &[
            key(EntityKind::Device, "ws-1"),
            key(EntityKind::User, "bob"),
        ],
    );
    assert_eq!(bridge, first, "the older incident survives");
    assert_eq!(w.alert_incident["a2"], first);
    assert_eq!(w.redirect[&second], first);
    // Later alerts through the absorbed incident's entities land in the survivor.
    assert_eq!(w.add("a4", h(3), &[key(EntityKind::User, "bob")]), first);
}

#[test]
fn a_thousand_unrelated_alerts_mentioning_the_dns_server_stay_apart() {
    let mut w = World::new(CorrelationConfig::default());
    for i in 0..1000 {
        w.add(
            &format!("a{i}"),
            h(0).plus_micros(i * 1_000_000),
            &[
                key(EntityKind::Device, &format!("ws-{i}")),
                key(EntityKind::User, &format!("user{i}")),
                key(EntityKind::Ip, "10.0.0.53"),
            ],
        );
    }
    assert_eq!(w.incidents().len(), 1000, "every alert is its own incident");
}

#[test]
fn a_common_binary_hash_does_not_glue_two_unrelated_alerts() {
    let powershell = "de96a6e69944335375dc1ac238336066889d9ffc7d73628ef4fe1b1b160ab32c";
    let mut w = World::new(CorrelationConfig::default());
    // powershell.exe shows up on many devices.
    for i in 0..20 {
        w.add(
            &format!("bg{i}"),
            h(0),
            &[
                key(EntityKind::Device, &format!("host-{i}")),
                key(EntityKind::FileSha256, powershell),
            ],
        );
    }
    let a = w.add(
        "x",
        h(1),
        &[
            key(EntityKind::Device, "fin-01"),
            key(EntityKind::User, "carol"),
            key(EntityKind::FileSha256, powershell),
        ],
    );
    let b = w.add(
        "y",
        h(1),
        &[
            key(EntityKind::Device, "hr-07"),
            key(EntityKind::User, "dave"),
            key(EntityKind::FileSha256, powershell),
        ],
    );
    assert_ne!(a, b);
    // A rare hash does glue: the same dropper on two devices.
    let c = w.add(
        "p",
        h(2),
        &[
            key(EntityKind::Device, "ws-a"),
            key(EntityKind::FileSha256, "aa".repeat(32).as_str()),
        ],
    );
    let d = w.add(
        "q",
        h(2),
        &[
            key(EntityKind::Device, "ws-b"),
            key(EntityKind::FileSha256, "aa".repeat(32).as_str()),
        ],
    );
    assert_eq!(c, d);
}

#[test]
fn allow_listed_entities_never_correlate() {
    let cfg = CorrelationConfig {
        allow_list: vec!["user:svc-scanner".into(), "ip:203.0.113.10".into()],
        ..Default::default()
    };
    let mut w = World::new(cfg);
    let a = w.add(
        "a",
        h(0),
        &[
            key(EntityKind::User, "CORP\\svc-scanner"),
            key(EntityKind::Device, "ws-1"),
        ],
    );
    let b = w.add(
        "b",
        h(0),
        &[
            key(EntityKind::User, "svc-scanner"),
            key(EntityKind::Device, "ws-2"),
        ],
    );
    assert_ne!(a, b);
    assert!(CorrelationConfig {
        allow_list: vec!["nonsense".into()],
        ..Default::default()
    }
    .allow_keys()
    .is_err());
}

#[test]
fn resolved_incidents_take_no_new_alerts_and_manual_links_stick() {
    let mut w = World::new(CorrelationConfig::default());
    let a = w.add("a", h(0), &[key(EntityKind::Device, "ws-1")]);
    w.engine
        .as_mut()
        .unwrap()
        .set_openness(&a, Openness::Resolved);
    let b = w.add("b", h(1), &[key(EntityKind::Device, "ws-1")]);
    assert_ne!(
        a, b,
        "a new alert starts a new incident instead of reopening"
    );
    // Pin an alert that is linked only by an IP, then make that IP common: it stays.
    let base = w.add(
        "c",
        h(2),
        &[
            key(EntityKind::Device, "d-0"),
            key(EntityKind::Ip, "198.51.100.7"),
        ],
    );
    let pinned = w.add(
        "d",
        h(2),
        &[
            key(EntityKind::Device, "d-1"),
            key(EntityKind::Ip, "198.51.100.7"),
        ],
    );
    assert_eq!(base, pinned);
    w.engine.as_mut().unwrap().pin("d", &pinned);
    let loose = w.add(
        "e",
        h(2),
        &[
            key(EntityKind::Device, "d-2"),
            key(EntityKind::Ip, "198.51.100.7"),
        ],
    );
    assert_eq!(loose, base);
    for i in 3..10 {
        w.add(
            &format!("f{i}"),
            h(2),
            &[
                key(EntityKind::Device, &format!("d-{i}")),
                key(EntityKind::Ip, "198.51.100.7"),
            ],
        );
    }
    assert_eq!(w.alert_incident["d"], base, "manual link stays");
    assert_ne!(
        w.alert_incident["e"], base,
        "automatic link through a now-common IP is undone"
    );
}

#[test]
fn process_lineage_and_shared_messages_glue() {
    let mut w = World::new(CorrelationConfig::default());
    let parent = EntityKey {
        kind: EntityKind::Process,
        value: "dev-1|4242|1800000000000000".into(),
    };
    let a = w.add(
        "a",
        h(0),
        &[key(EntityKind::Device, "ws-1"), parent.clone()],
    );
    // The child's alert is on a re-imaged device name but carries its parent's process key.
    let b = w.add("b", h(1), &[key(EntityKind::Device, "ws-1-new"), parent]);
    assert_eq!(a, b);
}

#[test]
fn pruning_bounds_memory_by_the_window() {
    let mut w = World::new(CorrelationConfig::default());
    for i in 0..500 {
        w.add(
            &format!("a{i}"),
            h(i),
            &[key(EntityKind::Device, &format!("ws-{}", i % 7))],
        );
        w.engine.as_mut().unwrap().prune(h(i));
    }
    assert!(
        w.engine.as_ref().unwrap().tracked_alerts() <= 26,
        "only about a window's worth is kept"
    );
}

#[test]
fn noisy_background_does_not_collapse_into_one_incident() {
    // 16 accounts roaming 400 hosts over four weeks, in random time order: accounts turn
    // common quickly; hosts (and their own IPs) keep their own alerts together.
    let mut w = World::new(CorrelationConfig::default());
    let mut seed: u64 = 7;
    let mut rnd = |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    for i in 0..4000 {
        let user = rnd(16);
        let host = rnd(400);
        let at = h(0).plus_micros((rnd(29 * 24 * 3600) as i64) * 1_000_000);
        w.add(
            &format!("n{i}"),
            at,
            &[
                key(EntityKind::Device, &format!("ws-{host}")),
                key(EntityKind::User, &format!("user{user}")),
                key(EntityKind::User, &format!("S-1-5-21-1-2-3-{}", 1500 + user)),
                key(EntityKind::Ip, &format!("10.20.0.{host}")),
            ],
        );
    }
    let mut sizes: HashMap<&String, usize> = HashMap::new();
    for inc in w.alert_incident.values() {
        *sizes.entry(inc).or_default() += 1;
    }
    let largest = sizes.values().max().copied().unwrap_or(0);
    assert!(
        largest < 100,
        "largest incident has {largest} of 4000 alerts"
    );
}

/// Random streams mixing placements, pins, hand merges, status changes and prunes keep the
/// engine's slabs and id maps consistent after every step.
#[test]
fn the_engine_stays_consistent_under_random_operations() {
    for seed0 in 1..25u64 {
        let cfg = CorrelationConfig {
            max_prevalence: 3,
            ..CorrelationConfig::default()
        };
        let mut w = World::new(cfg);
        let mut seed = seed0;
        let mut rnd = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n.max(1)
        };
        for i in 0..800u64 {
            let at = h(i64::try_from(rnd(10 * 24)).unwrap());
            let mut keys = vec![
                key(EntityKind::Device, &format!("d{}", rnd(40))),
                key(EntityKind::User, &format!("u{}", rnd(20))),
            ];
            if rnd(3) == 0 {
                keys.push(key(
                    EntityKind::FileSha256,
                    &"a".repeat(1 + rnd(8) as usize),
                ));
            }
            let id = format!("a{i}");
            let incident = w.add(&id, at, &keys);
            let engine = w.engine.as_mut().unwrap();
            match rnd(40) {
                0 => engine.pin(&format!("a{}", rnd(i + 1)), &incident),
                1 => {
                    let other = format!("inc-{}", 1 + rnd(w.next));
                    if other != incident {
                        engine.redirect(&other, &incident);
                    }
                }
                2 => engine.set_openness(&incident, Openness::Resolved),
                3 => engine.prune(at),
                4..=7 => {
                    let again = format!("a{}", rnd(i + 1));
                    let more = [
                        key(EntityKind::Device, &format!("d{}", rnd(40))),
                        key(EntityKind::Ip, &format!("10.0.0.{}", rnd(30))),
                    ];
                    w.resend(&again, at, &more);
                }
                _ => {}
            }
            w.engine.as_ref().unwrap().check_invariants();
        }
    }
}

/// A re-send that names a second device joins the incidents of both devices; the reason
/// says which entity did it.
#[test]
fn a_resend_with_a_new_entity_merges_what_it_reaches() {
    let mut w = World::new(CorrelationConfig::default());
    let one = w.add("a", h(0), &[key(EntityKind::Device, "ws-1")]);
    let two = w.add("b", h(1), &[key(EntityKind::Device, "ws-2")]);
    let three = w.add("c", h(1), &[key(EntityKind::Device, "ws-2")]);
    assert_ne!(one, two);
    assert_eq!(two, three);
    // The same keys again change nothing.
    w.resend("a", h(0), &[key(EntityKind::Device, "ws-1")]);
    assert_ne!(w.alert_incident["a"], w.alert_incident["b"]);
    let after = w.resend(
        "a",
        h(2),
        &[
            key(EntityKind::Device, "ws-1"),
            key(EntityKind::Device, "ws-2"),
        ],
    );
    assert_eq!(after, two, "the larger incident survives");
    assert_eq!(w.alert_incident["b"], two);
    assert_eq!(w.redirect.get(&one), Some(&two));
    let why = &w.reasons["a"];
    assert!(
        why.iter()
            .any(|r| r.kind == EntityKind::Device && r.value == "ws-2"),
        "{why:?}"
    );
    // A later alert on the first device lands in the survivor.
    assert_eq!(w.add("d", h(3), &[key(EntityKind::Device, "ws-1")]), two);
    w.engine.as_ref().unwrap().check_invariants();
}

/// A re-send whose own incident is the smaller one merges it away: the merge names the
/// entity the alert shares with the survivor, not a blank one.
#[test]
fn a_resend_that_merges_its_own_incident_away_says_through_what() {
    let mut w = World::new(CorrelationConfig::default());
    let own = w.add("a", h(0), &[key(EntityKind::Device, "ws-1")]);
    let big = w.add("b", h(1), &[key(EntityKind::Device, "ws-2")]);
    w.add("c", h(1), &[key(EntityKind::Device, "ws-2")]);
    w.resend(
        "a",
        h(0),
        &[
            key(EntityKind::Device, "ws-1"),
            key(EntityKind::Device, "ws-2"),
        ],
    );
    assert_eq!(w.redirect.get(&own), Some(&big));
    let via = w.merged_via.last().unwrap();
    assert_eq!((via.kind, via.value.as_str()), (EntityKind::Device, "ws-2"));
    w.engine.as_ref().unwrap().check_invariants();
}

/// A re-send that adds only an account already common still counts it for the host beside
/// it: the engine keeps no common keys per alert, so it cannot tell that the account is new
/// to the alert, and must not skip the count. Here it is the host's sixth account, so the
/// host turns common and stops linking.
#[test]
fn a_resend_naming_a_common_account_counts_it_for_the_host() {
    let mut w = World::new(CorrelationConfig::default());
    let (dev, user) = (EntityKind::Device, EntityKind::User);
    // svc-backup is on six hosts: common.
    for i in 0..6 {
        w.add(
            &format!("spread-{i}"),
            h(0),
            &[key(dev, &format!("srv-{i}")), key(user, "svc-backup")],
        );
    }
    // ws-9 has seen five accounts: still a key.
    for i in 0..5 {
        w.add(
            &format!("seen-{i}"),
            h(1),
            &[key(dev, "ws-9"), key(user, &format!("user-{i}"))],
        );
    }
    let a = w.add("a", h(2), &[key(dev, "ws-9")]);
    assert_eq!(w.alert_incident["seen-0"], a, "ws-9 still links");
    w.resend("a", h(2), &[key(dev, "ws-9"), key(user, "svc-backup")]);
    let later = w.add("later", h(3), &[key(dev, "ws-9")]);
    for id in ["a", "seen-0", "seen-4"] {
        assert_ne!(w.alert_incident[id], later, "ws-9 is common now ({id})");
    }
    w.engine.as_ref().unwrap().check_invariants();
}

/// A manual link and a closed incident stay as they are; the new key still lends itself to
/// later alerts of the alert's incident when that is open.
#[test]
fn a_resend_never_moves_a_manual_link_or_reopens_a_closed_case() {
    let mut w = World::new(CorrelationConfig::default());
    let one = w.add("a", h(0), &[key(EntityKind::Device, "ws-1")]);
    let two = w.add("b", h(0), &[key(EntityKind::Device, "ws-2")]);
    w.engine.as_mut().unwrap().pin("a", &one);
    w.resend(
        "a",
        h(1),
        &[
            key(EntityKind::Device, "ws-1"),
            key(EntityKind::Device, "ws-2"),
        ],
    );
    assert_eq!(w.alert_incident["a"], one);
    assert_eq!(w.alert_incident["b"], two);
    assert!(w.redirect.is_empty());

    let three = w.add("c", h(0), &[key(EntityKind::Device, "ws-3")]);
    w.engine
        .as_mut()
        .unwrap()
        .set_openness(&three, Openness::Resolved);
    w.resend(
        "c",
        h(1),
        &[
            key(EntityKind::Device, "ws-3"),
            key(EntityKind::Device, "ws-2"),
        ],
    );
    assert_eq!(w.alert_incident["c"], three);
    assert_eq!(w.alert_incident["b"], two);
    assert!(w.redirect.is_empty());
    w.engine.as_ref().unwrap().check_invariants();
}

/// A re-send with a later activity moves the window: an alert a day after the re-send
/// joins, though it is two days after the first sending.
#[test]
fn a_resend_with_later_activity_carries_the_window() {
    let mut w = World::new(CorrelationConfig::default());
    let one = w.add("a", h(0), &[key(EntityKind::Device, "ws-1")]);
    w.resend("a", h(30), &[key(EntityKind::Device, "ws-1")]);
    assert_eq!(w.add("b", h(50), &[key(EntityKind::Device, "ws-1")]), one);
    let mut v = World::new(CorrelationConfig::default());
    let first = v.add("a", h(0), &[key(EntityKind::Device, "ws-1")]);
    assert_ne!(v.add("b", h(50), &[key(EntityKind::Device, "ws-1")]), first);
}

/// Re-sending an alert the engine never held (pruned, or from before the window) is a no-op.
#[test]
fn a_resend_of_an_unknown_alert_changes_nothing() {
    let mut w = World::new(CorrelationConfig::default());
    let engine = w.engine.as_mut().unwrap();
    let mut mint = || "inc-x".to_string();
    let out = engine.resend(
        AlertIn {
            id: "gone",
            at: h(0),
            keys: &[key(EntityKind::Device, "ws-1")],
            digests: None,
        },
        &mut mint,
    );
    assert!(out.is_empty());
}

/// Digests handed in by the caller only save the engine computing them: the true digests,
/// none, or a list of the wrong length (ignored) find one key as one key.
#[test]
fn digests_from_the_caller_only_speed_up_finding_keys() {
    let mut engine = Correlator::new(&CorrelationConfig::default(), BTreeSet::new());
    let mut n = 0;
    let mut mint = || {
        n += 1;
        format!("inc-{n}")
    };
    let mut place = |id: &str, keys: &[EntityKey], digests: Option<&[i64]>| {
        let effects = engine.place(
            AlertIn {
                id,
                at: h(0),
                keys,
                digests,
            },
            &mut mint,
        );
        effects
            .into_iter()
            .find_map(|e| match e {
                Effect::Link { incident, .. } => Some(incident.to_string()),
                _ => None,
            })
            .unwrap()
    };
    let ws1 = [key(EntityKind::Device, "ws-1")];
    let right = [value_digest(&ws1[0].value)];
    let x = place("x", &ws1, Some(&right));
    let y = place("y", &ws1, None);
    let z = place("z", &ws1, Some(&[1, 2]));
    assert_eq!((&x, &x), (&y, &z));
    engine.check_invariants();
}

/// A caller's wrong digest is a bug the engine cannot afford to check for in release
/// builds; debug builds (and so every test) catch it.
#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "digest of")]
fn a_wrong_digest_is_caught_in_debug_builds() {
    let mut engine = Correlator::new(&CorrelationConfig::default(), BTreeSet::new());
    let mut mint = || "inc-1".to_string();
    engine.place(
        AlertIn {
            id: "a",
            at: h(0),
            keys: &[key(EntityKind::Device, "ws-1")],
            digests: Some(&[7]),
        },
        &mut mint,
    );
}

#[test]
fn built_in_accounts_and_host_local_addresses_glue_nothing() {
    let mut w = World::new(CorrelationConfig::default());
    let generic = |host: &str| {
        vec![
            key(EntityKind::Device, host),
            key(EntityKind::User, "NT AUTHORITY\\SYSTEM"),
            key(EntityKind::User, "S-1-5-18"),
            key(EntityKind::User, "NT AUTHORITY\\NETWORK SERVICE"),
            key(EntityKind::Ip, "127.0.0.1"),
            key(EntityKind::Ip, "fe80::1"),
            key(EntityKind::Ip, "169.254.10.20"),
        ]
    };
    let a = w.add("g1", h(0), &generic("hr-laptop"));
    let b = w.add("g2", h(1), &generic("build-srv"));
    assert_ne!(
        a, b,
        "only built-in accounts and host-local addresses in common"
    );
    // A routable address still links.
    let c = w.add(
        "g3",
        h(2),
        &[
            key(EntityKind::Device, "kiosk-1"),
            key(EntityKind::Ip, "10.1.2.3"),
        ],
    );
    let d = w.add(
        "g4",
        h(3),
        &[
            key(EntityKind::Device, "kiosk-2"),
            key(EntityKind::Ip, "10.1.2.3"),
        ],
    );
    assert_eq!(c, d);
    for (kind, v) in [
        (EntityKind::User, "system"),
        (EntityKind::User, "s-1-5-20"),
        (EntityKind::Ip, "::1"),
        (EntityKind::Ip, "0.0.0.0"),
    ] {
        assert!(is_generic(kind, v), "{v}");
    }
    for (kind, v) in [
        (EntityKind::User, "alice"),
        (EntityKind::User, "s-1-5-21-1-2-3-1001"),
        (EntityKind::Ip, "10.0.0.53"),
        (EntityKind::Device, "system"),
    ] {
        assert!(!is_generic(kind, v), "{v}");
    }
}

#[test]
fn one_account_named_two_ways_counts_once_towards_its_host() {
    // The default threshold is five accounts. One user by name, UPN and SID, with SYSTEM
    // and NETWORK SERVICE and their SIDs, on one host over many alerts is one account,
    // not six, and must not make the host common.
    let mut w = World::new(CorrelationConfig::default());
    let mut placed = Vec::new();
    for i in 0..8 {
        placed.push(w.add(
            &format!("o{i}"),
            h(i),
            &[
                key(EntityKind::Device, "ws-9"),
                key(EntityKind::User, "CORP\\dana"),
                key(EntityKind::User, "dana@corp.example"),
                key(
                    EntityKind::User,
                    "S-1-5-21-1004336348-1177238915-682003330-1510",
                ),
                key(EntityKind::User, "NT AUTHORITY\\SYSTEM"),
                key(EntityKind::User, "S-1-5-18"),
                key(EntityKind::User, "NT AUTHORITY\\NETWORK SERVICE"),
                key(EntityKind::User, "S-1-5-20"),
            ],
        ));
    }
    assert!(placed.iter().all(|p| *p == placed[0]), "{placed:?}");
    // The host still links on its own.
    assert_eq!(
        w.add("o-host", h(9), &[key(EntityKind::Device, "ws-9")]),
        placed[0]
    );
}

/// An alert unlinked by hand into an incident of its own stays there when a later alert
/// reaches both incidents: an incident holding alerts placed by hand is merged only by
/// hand. The later alert joins the other incident.
#[test]
fn an_unlinked_alert_is_not_merged_back() {
    let mut w = World::new(CorrelationConfig::default());
    let host = || [key(EntityKind::Device, "hu")];
    let u = w.add("u1", h(0), &host());
    w.add("u2", h(1), &host());
    w.add("u3", h(2), &host());
    // Unlinked by hand into a new incident.
    w.engine.as_mut().unwrap().pin("u3", "inc-unlinked");
    w.alert_incident.insert("u3".into(), "inc-unlinked".into());
    let later = w.add("u4", h(3), &host());
    assert_eq!(later, u);
    assert_eq!(w.alert_incident["u3"], "inc-unlinked");
    assert!(w.redirect.is_empty(), "{:?}", w.redirect);
}

/// After a restart the engine holds only the window's alerts, but the survivor of a merge
/// is still the incident with the most alerts: the stored count of the others is kept.
#[test]
fn the_survivor_counts_the_alerts_the_engine_no_longer_holds() {
    let cfg = CorrelationConfig::default();
    let mut c = Correlator::new(&cfg, cfg.allow_keys().unwrap());
    let hx = [key(EntityKind::Device, "hx")];
    let bob = [key(EntityKind::User, "bob")];
    c.restore_incident("inc-x", Openness::Open, None);
    c.restore_incident("inc-y", Openness::Open, None);
    let restore = |c: &mut Correlator, id: &str, at: Timestamp, keys: &[EntityKey], inc: &str| {
        c.restore_alert(
            AlertIn {
                id,
                at,
                keys,
                digests: None,
            },
            inc,
            false,
        );
    };
    // X has five alerts, four of them older than the window; Y two, both in it.
    restore(&mut c, "x5", h(23), &hx, "inc-x");
    restore(&mut c, "y1", h(46), &bob, "inc-y");
    restore(&mut c, "y2", h(46), &bob, "inc-y");
    c.restore_size("inc-x", 5);
    c.restore_size("inc-y", 2);
    let bridge: Vec<EntityKey> = hx.iter().chain(&bob).cloned().collect();
    let effects = c.place(
        AlertIn {
            id: "br",
            at: h(47),
            keys: &bridge,
            digests: None,
        },
        &mut || "inc-new".to_string(),
    );
    let merges: Vec<(String, String)> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Merge { from, into, .. } => Some((from.to_string(), into.to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(merges, [("inc-y".to_string(), "inc-x".to_string())]);
}
