//! Text shortened for storage or display without splitting a character.

/// Cuts `s` to at most `max` bytes, on the last character boundary at or before `max`.
/// Returns whether anything was cut.
pub fn cut_to(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    true
}

#[cfg(test)]
mod tests {
    use super::cut_to;

    #[test]
    fn cuts_on_a_character_boundary() {
        let mut s = "aé".repeat(3); // 9 bytes
        assert!(cut_to(&mut s, 5));
        assert_eq!(s, "aéa");
        let mut short = String::from("abc");
        assert!(!cut_to(&mut short, 3));
        assert_eq!(short, "abc");
    }
}
