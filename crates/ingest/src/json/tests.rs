use super::*;

#[test]
fn duplicate_keys_are_rejected_at_any_depth() {
    assert!(Node::parse(br#"{"a":1,"a":2}"#)
        .unwrap_err()
        .contains("duplicate key"));
    assert!(Node::parse(br#"{"x":[{"b":1,"b":1}]}"#).is_err());
    // Keys that only differ after unescaping are duplicates too.
    assert!(Node::parse(br#"{"a":1,"\u0061":2}"#).is_err());
    // Large objects take the hashed path.
    let mut big = String::from("{");
    for i in 0..100 {
        big.push_str(&format!("\"k{i}\":{i},"));
    }
    big.push_str("\"k7\":0}");
    assert!(Node::parse(big.as_bytes()).is_err());
}

#[test]
fn lone_surrogates_and_bad_utf8_are_rejected() {
    assert!(Node::parse(br#""\ud800""#).is_err());
    assert!(Node::parse(br#""\udc00x""#).is_err());
    assert!(Node::parse(b"\"\xff\"").is_err());
    assert_eq!(
        Node::parse(br#""\ud83d\ude00""#).unwrap(),
        Node::Str("😀".into())
    );
}

#[test]
fn depth_is_bounded() {
    let nested =
        |n: usize, open: &str, close: &str| format!("{}1{}", open.repeat(n), close.repeat(n));
    // The deepest accepted document must read back with serde_json, as stored documents are.
    for deepest in [
        nested(MAX_DEPTH - 1, "[", "]"),
        nested(MAX_DEPTH - 1, r#"{"a":"#, "}"),
    ] {
        assert!(Node::parse(deepest.as_bytes()).is_ok());
        assert!(serde_json::from_str::<serde_json::Value>(&deepest).is_ok());
    }
    for n in [MAX_DEPTH, 300, 100_000] {
        let e = Node::parse(nested(n, "[", "]").as_bytes()).unwrap_err();
        assert!(
            e.contains("nesting deeper than 127") && e.contains("recursion limit"),
            "{e}"
        );
        assert!(Node::parse(nested(n, r#"{"a":["#, "]}").as_bytes()).is_err());
        assert!(Node::parse(format!("{}{}", "[".repeat(n), "]".repeat(n)).as_bytes()).is_err());
    }
}

#[test]
fn errors_are_one_line_naming_the_place() {
    for (input, needle) in [
        (&b"{not json"[..], "line 1 column 2"),
        (br#"{"a":1,"a":2}"#, "duplicate key \"a\""),
        (b"\"\xff\"", "UTF-8"),
        (br#""\ud800""#, "lone surrogates are refused"),
        (b"{} x", "trailing"),
        (b"", "EOF"),
    ] {
        let e = Node::parse(input).unwrap_err();
        assert!(e.contains(needle), "{needle:?} not in {e:?}");
        assert!(!e.contains('\n'), "{e:?}");
    }
}

#[test]
fn numbers_keep_their_kind() {
    assert_eq!(Node::parse(b"42").unwrap(), Node::Int(42));
    assert_eq!(
        Node::parse(b"18446744073709551615").unwrap(),
        Node::UInt(u64::MAX)
    );
    assert_eq!(Node::parse(b"1.5").unwrap(), Node::Float(1.5));
    assert_eq!(Node::parse(br#""4242""#).unwrap(), Node::Str("4242".into()));
}

#[test]
fn strings_borrow_when_unescaped_and_keep_nul() {
    match Node::parse(br#""plain""#).unwrap() {
        Node::Str(Cow::Borrowed(s)) => assert_eq!(s, "plain"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        Node::parse(br#""a\u0000b""#).unwrap(),
        Node::Str("a\0b".into())
    );
}

#[test]
fn trailing_garbage_is_rejected() {
    assert!(Node::parse(b"{} x").is_err());
    assert!(Node::parse(b"").is_err());
}
