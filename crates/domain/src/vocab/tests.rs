use super::*;

#[test]
fn spellings_round_trip() {
    for s in Determination::ALL {
        assert_eq!(Determination::parse(s.as_str()), Some(*s));
    }
    assert_eq!(
        AlertStatus::parse("inProgress"),
        Some(AlertStatus::InProgress)
    );
    assert_eq!(
        AlertStatus::parse("InProgress"),
        None,
        "wire spelling is exact"
    );
    assert_eq!(
        AlertStatus::parse_loose("INPROGRESS"),
        Some(AlertStatus::InProgress)
    );
}

#[test]
fn pairing_follows_the_reference_product() {
    use Classification as C;
    use Determination as D;
    assert!(check_pairing(C::TruePositive, D::Malware).is_ok());
    assert!(check_pairing(C::FalsePositive, D::NotMalicious).is_ok());
    assert!(check_pairing(C::InformationalExpectedActivity, D::SecurityTesting).is_ok());
    assert!(check_pairing(C::TruePositive, D::NotMalicious).is_err());
    assert!(check_pairing(C::FalsePositive, D::Malware).is_err());
    assert!(check_pairing(C::Unknown, D::Malware).is_err());
    assert!(check_pairing(C::Unknown, D::Unknown).is_ok());
    // "Other" exists under every real classification.
    for c in [
        C::TruePositive,
        C::FalsePositive,
        C::InformationalExpectedActivity,
    ] {
        assert!(check_pairing(c, D::Other).is_ok());
    }
}

#[test]
fn severity_ranks_are_ordered() {
    assert!(Severity::High.rank() > Severity::Medium.rank());
    for s in [
        Severity::Informational,
        Severity::Low,
        Severity::Medium,
        Severity::High,
    ] {
        assert_eq!(Severity::from_rank(s.rank()), s);
    }
}

#[test]
fn aliases_resolve() {
    assert_eq!(
        service_source_canonical("endpoint"),
        "microsoftDefenderForEndpoint"
    );
    assert_eq!(
        service_source_canonical("EMAIL"),
        "microsoftDefenderForOffice365"
    );
    assert_eq!(service_source_canonical("acmeEdr"), "acmeEdr");
}
