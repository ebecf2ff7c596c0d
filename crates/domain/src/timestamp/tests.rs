use super::*;

#[test]
fn parses_offsets_and_fractions() {
    let a = Timestamp::parse_rfc3339("2021-04-27T12:19:27.7211305Z").unwrap();
    let b = Timestamp::parse_rfc3339("2021-04-27T14:19:27.7211305+02:00").unwrap();
    assert_eq!(a, b);
    assert_eq!(a.to_rfc3339(), "2021-04-27T12:19:27.721130Z");
}

#[test]
fn rejects_missing_offset_and_garbage() {
    for s in [
        "2021-04-27T12:19:27",
        "yesterday",
        "",
        "2021-04-27",
        "10000-01-01T00:00:00Z",
    ] {
        assert!(Timestamp::parse_rfc3339(s).is_err(), "{s}");
    }
}

#[test]
fn extreme_years_are_in_range() {
    let lo = Timestamp::parse_rfc3339("0001-01-01T00:00:00Z").unwrap();
    let hi = Timestamp::parse_rfc3339("9999-12-31T23:59:59.9999999Z").unwrap();
    assert!(lo < hi);
    assert_eq!(lo.to_rfc3339(), "0001-01-01T00:00:00.000000Z");
}

#[test]
fn offsets_cannot_carry_an_instant_out_of_range() {
    for s in [
        "9999-12-31T23:59:59-00:01",
        "0001-01-01T00:00:00+00:01",
        "0001-01-01T00:59:59+01:00",
    ] {
        let e = Timestamp::parse_rfc3339(s).unwrap_err();
        assert!(e.contains("0001-9999"), "{s}: {e}");
    }
    let edge = Timestamp::parse_rfc3339("9999-12-31T23:59:59.9999999+00:00").unwrap();
    assert_eq!(edge.to_rfc3339(), "9999-12-31T23:59:59.999999Z");
    let back = Timestamp::parse_rfc3339("0001-01-01T01:00:00+01:00").unwrap();
    assert_eq!(back.to_rfc3339(), "0001-01-01T00:00:00.000000Z");
}
