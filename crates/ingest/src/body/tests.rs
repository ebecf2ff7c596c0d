use super::*;

fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2026-11-23T12:00:00Z").unwrap_or_else(|e| panic!("{e}"))
}

/// A body well over [`PARALLEL_FROM`], with blank lines, CRLF endings and bad lines spread
/// through it, so several pieces start at different line numbers.
fn large_body() -> (Vec<u8>, Vec<usize>) {
    let mut body = Vec::new();
    let mut bad = Vec::new();
    let mut line = 0;
    for i in 0..4000 {
        line += 1;
        if i % 997 == 500 {
            body.extend_from_slice(b"{\"providerAlertId\":\"x\",\"severity\":\"nope\"}\n");
            bad.push(line);
        } else if i % 331 == 7 {
            body.extend_from_slice(b"   \r\n");
        } else {
            let pad = "p".repeat(i % 50);
            body.extend_from_slice(
                format!(
                    "{{\"providerAlertId\":\"a{i}\",\"title\":\"t{pad}\",\"severity\":\"low\",\"serviceSource\":\"microsoftDefenderForEndpoint\"}}\r\n"
                )
                .as_bytes(),
            );
        }
    }
    (body, bad)
}

#[test]
fn a_large_body_is_cut_at_line_boundaries_into_pieces() {
    let (body, _) = large_body();
    for n in 1..=4 {
        let pieces = pieces(&body, n);
        assert_eq!(pieces.len(), n);
        let joined: Vec<u8> = pieces.iter().flat_map(|(p, _)| p.iter().copied()).collect();
        assert_eq!(
            joined, body,
            "the pieces are the body, in order, nothing lost"
        );
        let mut before = 0;
        for (p, lines_before) in &pieces {
            assert_eq!(*lines_before, before);
            before += p.iter().filter(|c| **c == b'\n').count();
            if *lines_before > 0 {
                assert!(
                    p.first() != Some(&b'\n'),
                    "a piece starts on a line's first byte"
                );
            }
        }
    }
}

#[test]
fn pieces_parse_exactly_as_one_pass_does() {
    let (body, bad) = large_body();
    let body = Bytes::from(body);
    assert!(
        body.len() > PARALLEL_FROM,
        "parse_bulk itself takes the parallel path"
    );
    let prefixes = PrefixRegistry::default();
    let serial = parse_lines(&body, &body, 0, &prefixes, now());
    let bulk = parse_bulk(&body, &prefixes, now());
    for parallel in [
        parse_in(&body, 2, &prefixes, now()),
        parse_in(&body, 3, &prefixes, now()),
        parse_in(&body, 4, &prefixes, now()),
        bulk,
        // What the server asks for while other requests are in flight, and when alone.
        parse_bulk_on(&body, 1, &prefixes, now()),
        parse_bulk_on(&body, 2, &prefixes, now()),
    ] {
        assert_eq!(parallel.len(), serial.len());
        for (p, s) in parallel.iter().zip(&serial) {
            assert_eq!(p.line, s.line);
            match (&p.result, &s.result) {
                (Ok(a), Ok(b)) => assert_eq!(a.record.id, b.record.id),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                _ => panic!("line {}: outcomes differ", p.line),
            }
        }
        let failed: Vec<usize> = parallel
            .iter()
            .filter(|l| l.result.is_err())
            .map(|l| l.line)
            .collect();
        assert_eq!(failed, bad, "errors name the body's own line numbers");
        for l in parallel.iter().filter(|l| l.result.is_err()) {
            let msg = l
                .result
                .as_ref()
                .err()
                .map(ToString::to_string)
                .unwrap_or_default();
            assert!(msg.contains(&format!("line {}", l.line)), "{msg}");
            assert!(msg.contains("severity"), "{msg}");
        }
        // Blank lines are skipped but still counted.
        assert_eq!(parallel.len() + 13, 4000);
    }
}

#[test]
fn small_bodies_and_edges_stay_whole() {
    assert_eq!(pieces(b"", 4).len(), 1);
    assert_eq!(pieces(b"{}", 4).len(), 1);
    // One huge line and no newline to cut at: one piece.
    let one_line = vec![b' '; PARALLEL_FROM * 2];
    assert_eq!(pieces(&one_line, 4).len(), 1);
    assert!(parse_bulk(&one_line.into(), &PrefixRegistry::default(), now()).is_empty());
    assert!(parse_bulk(&Bytes::new(), &PrefixRegistry::default(), now()).is_empty());
}

proptest::proptest! {
    /// The SIMD line splitter gives exactly what `split` on `\n` gives, empty lines and a
    /// missing final newline included, so line numbers in errors stay the same.
    #[test]
    fn lines_match_a_plain_split(bytes in proptest::collection::vec(
        proptest::prop_oneof![proptest::num::u8::ANY, proptest::strategy::Just(b'\n')],
        0..300,
    )) {
        let want: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        let got: Vec<&[u8]> = lines(&bytes).collect();
        proptest::prop_assert_eq!(got, want);
        let pieces = pieces(&bytes, 3);
        let joined: Vec<u8> = pieces.iter().flat_map(|(p, _)| p.iter().copied()).collect();
        proptest::prop_assert_eq!(&joined, &bytes);
        let mut before = 0;
        for (p, no) in &pieces {
            proptest::prop_assert_eq!(*no, before);
            before += p.iter().filter(|c| **c == b'\n').count();
        }
    }
}

/// Documents share the request's buffer (no copy per alert), and a part from elsewhere is
/// copied rather than a panic.
#[test]
fn documents_share_the_body() {
    let body = Bytes::from_static(b"{\"a\":1}\n{\"b\":2}\n");
    let part = body.get(8..15).unwrap();
    let shared = share(&body, part);
    assert_eq!(&shared[..], b"{\"b\":2}");
    assert_eq!(shared.as_ptr(), part.as_ptr());
    let elsewhere = b"{\"c\":3}".to_vec();
    let copied = share(&body, &elsewhere);
    assert_eq!(&copied[..], &elsewhere[..]);
    assert_ne!(copied.as_ptr(), elsewhere.as_ptr());
    assert!(share(&body, &[]).is_empty());
}
