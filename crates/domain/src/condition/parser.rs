//! Hand-written scanner and parser. Works on characters, not bytes, so error columns match what
//! a person counts in the search box whatever the script.
use super::{
    Cmp, Condition, Op, Pred, StrField, Term, TimeField, TimeValue, MAX_QUERY_CHARS, MAX_TERMS,
    MAX_VALUES,
};
use crate::entity::{normalise, EntityKind};
use crate::error::DomainError;
use crate::timestamp::{Timestamp, DAY_MICROS};
use crate::vocab::{
    service_source_canonical, AlertStatus, Classification, Determination, Severity,
};

/// What a field name resolves to.
#[derive(Debug, Clone, Copy)]
enum Field {
    Severity,
    Status,
    Classification,
    Determination,
    Str(StrField),
    Tag,
    Entity(EntityKind),
    Time(TimeField),
}

impl Field {
    /// Only ranked fields have an order worth comparing; `tag>x` is more likely a typo than
    /// a wish for lexicographic order.
    fn ordered(self) -> bool {
        matches!(self, Field::Severity | Field::Time(_))
    }
}

/// Field names, matched ignoring ASCII case, and whether each is an alias (aliases are accepted
/// but not offered in error messages, to keep those short).
const FIELDS: &[(&str, Field, bool)] = &[
    ("severity", Field::Severity, false),
    ("status", Field::Status, false),
    ("classification", Field::Classification, false),
    ("determination", Field::Determination, false),
    ("serviceSource", Field::Str(StrField::ServiceSource), false),
    ("source", Field::Str(StrField::ServiceSource), true),
    (
        "detectionSource",
        Field::Str(StrField::DetectionSource),
        false,
    ),
    ("category", Field::Str(StrField::Category), false),
    (
        "investigationState",
        Field::Str(StrField::InvestigationState),
        false,
    ),
    ("assignedTo", Field::Str(StrField::AssignedTo), false),
    ("assignee", Field::Str(StrField::AssignedTo), true),
    ("tag", Field::Tag, false),
    ("tags", Field::Tag, true),
    ("title", Field::Str(StrField::Title), false),
    ("id", Field::Str(StrField::Id), false),
    (
        "providerAlertId",
        Field::Str(StrField::ProviderAlertId),
        false,
    ),
    ("incidentId", Field::Str(StrField::IncidentId), false),
    (
        "firstActivity",
        Field::Time(TimeField::FirstActivity),
        false,
    ),
    (
        "firstActivityDateTime",
        Field::Time(TimeField::FirstActivity),
        true,
    ),
    ("lastActivity", Field::Time(TimeField::LastActivity), false),
    (
        "lastActivityDateTime",
        Field::Time(TimeField::LastActivity),
        true,
    ),
    ("created", Field::Time(TimeField::Created), false),
    ("createdDateTime", Field::Time(TimeField::Created), true),
    ("lastUpdate", Field::Time(TimeField::LastUpdate), false),
    (
        "lastUpdateDateTime",
        Field::Time(TimeField::LastUpdate),
        true,
    ),
];

const ENTITY_PREFIX: &str = "entity.";

/// Bare words reserved so that a later version can add boolean operators without silently
/// changing what an existing saved query means.
const RESERVED_WORDS: &[&str] = &["OR", "AND", "NOT"];

fn query_err(col: usize, msg: impl Into<String>) -> DomainError {
    DomainError::Query {
        col,
        msg: msg.into(),
    }
}

pub(super) fn parse(input: &str) -> Result<Condition, DomainError> {
    let chars: Vec<char> = input.chars().collect();
    if chars.len() > MAX_QUERY_CHARS {
        return Err(query_err(
            MAX_QUERY_CHARS + 1,
            format!("query is longer than {MAX_QUERY_CHARS} characters"),
        ));
    }
    let mut p = Parser {
        chars: &chars,
        pos: 0,
    };
    let mut terms = Vec::new();
    loop {
        p.skip_ws();
        if p.peek().is_none() {
            break;
        }
        if terms.len() >= MAX_TERMS {
            return Err(query_err(
                p.col(),
                format!("too many terms: at most {MAX_TERMS}"),
            ));
        }
        terms.push(p.term()?);
    }
    Ok(Condition { terms })
}

/// A value as written, with the column where it starts, for pointing at it later.
struct Raw {
    text: String,
    col: usize,
}

struct Parser<'a> {
    chars: &'a [char],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn col(&self) -> usize {
        self.pos + 1
    }

    fn at_term_end(&self) -> bool {
        self.peek().is_none_or(char::is_whitespace)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn term(&mut self) -> Result<Term, DomainError> {
        let negated = self.peek() == Some('-');
        if negated {
            let dash_col = self.col();
            self.pos += 1;
            if self.at_term_end() {
                return Err(query_err(
                    dash_col,
                    "expected a term right after '-' (write -tag:x, with no space)",
                ));
            }
            if self.peek() == Some('-') {
                return Err(query_err(
                    self.col(),
                    "a term can be negated only once; quote text that starts with '-'",
                ));
            }
        }
        let pred = if self.peek() == Some('"') {
            let col = self.col();
            let text = self.quoted()?;
            if !self.at_term_end() {
                return Err(query_err(
                    self.col(),
                    "expected a space after the closing quote",
                ));
            }
            text_pred(text, col)?
        } else {
            self.field_or_word()?
        };
        Ok(Term { negated, pred })
    }

    /// A bare word (free text) or `name op values`: which one is only known at the first
    /// operator character or the end of the word.
    fn field_or_word(&mut self) -> Result<Pred, DomainError> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_whitespace() || matches!(c, ':' | '<' | '>' | '=' | '"') {
                break;
            }
            self.pos += 1;
        }
        let name: String = self
            .chars
            .get(start..self.pos)
            .unwrap_or(&[])
            .iter()
            .collect();
        let name_col = start + 1;
        match self.peek() {
            None => bare_word(name, name_col),
            Some(c) if c.is_whitespace() => bare_word(name, name_col),
            Some('"') => Err(query_err(
                self.col(),
                "unexpected '\"' inside a word; to search for text with quotes or spaces, \
                 put the whole text in double quotes",
            )),
            Some(c) => {
                if name.is_empty() {
                    return Err(query_err(
                        self.col(),
                        format!("expected a field name before '{c}'"),
                    ));
                }
                let field = lookup_field(&name).ok_or_else(|| unknown_field(&name, name_col))?;
                let op_col = self.col();
                let op = self.operator()?;
                if op.is_some() && !field.ordered() {
                    return Err(query_err(
                        op_col,
                        format!(
                            "{name} can only be matched with ':'; \
                             <, <=, >, >= work on severity and time fields"
                        ),
                    ));
                }
                let values = self.values(op)?;
                build(field, op, values)
            }
        }
    }

    /// `:` (None) or an ordered comparison.
    fn operator(&mut self) -> Result<Option<Op>, DomainError> {
        let col = self.col();
        let c = self.peek();
        self.pos += 1;
        let or_equal = self.peek() == Some('=');
        let op =
            match (c, or_equal) {
                (Some(':'), _) => return Ok(None),
                (Some('<'), false) => Op::Lt,
                (Some('<'), true) => Op::Le,
                (Some('>'), false) => Op::Gt,
                (Some('>'), true) => Op::Ge,
                _ => return Err(query_err(
                    col,
                    "expected ':', '<', '<=', '>' or '>=' ('=' alone is not an operator; use ':')",
                )),
            };
        if or_equal {
            self.pos += 1;
        }
        Ok(Some(op))
    }

    /// A comma-separated list of bare or quoted values, at least one, each non-empty.
    fn values(&mut self, op: Option<Op>) -> Result<Vec<Raw>, DomainError> {
        let mut out: Vec<Raw> = Vec::new();
        loop {
            let col = self.col();
            if out.len() >= MAX_VALUES {
                return Err(query_err(
                    col,
                    format!("too many values in one list: at most {MAX_VALUES}"),
                ));
            }
            let after = match (out.is_empty(), op) {
                (false, _) => ",",
                (true, None) => ":",
                (true, Some(op)) => op.as_str(),
            };
            let text = match self.peek() {
                None => return Err(query_err(col, format!("expected a value after '{after}'"))),
                Some(c) if c.is_whitespace() => {
                    return Err(query_err(
                        col,
                        format!("expected a value after '{after}' (no spaces; quote values that contain them)"),
                    ))
                }
                Some(',') => return Err(query_err(col, "empty value in list")),
                Some('"') => {
                    let v = self.quoted()?;
                    if v.is_empty() {
                        return Err(query_err(col, "empty value \"\""));
                    }
                    v
                }
                Some(_) => {
                    let mut v = String::new();
                    while let Some(c) = self.peek() {
                        if c.is_whitespace() || c == ',' {
                            break;
                        }
                        if c == '"' {
                            return Err(query_err(
                                self.col(),
                                "unexpected '\"' inside a value; put the whole value in double quotes",
                            ));
                        }
                        v.push(c);
                        self.pos += 1;
                    }
                    v
                }
            };
            out.push(Raw { text, col });
            match self.peek() {
                Some(',') => self.pos += 1,
                None => break,
                Some(c) if c.is_whitespace() => break,
                Some(_) => {
                    return Err(query_err(
                        self.col(),
                        "expected ',' or a space after the closing quote",
                    ))
                }
            }
        }
        Ok(out)
    }

    /// A double-quoted string starting at the current `"`. `\"` and `\\` are escapes; any other
    /// backslash is kept as written, so `"CORP\alice"` means what a Windows user expects.
    fn quoted(&mut self) -> Result<String, DomainError> {
        let open_col = self.col();
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None => return Err(query_err(open_col, "unterminated quote: no closing '\"'")),
                Some('"') => {
                    self.pos += 1;
                    return Ok(s);
                }
                Some('\\') => match self.chars.get(self.pos + 1) {
                    Some(&c @ ('"' | '\\')) => {
                        s.push(c);
                        self.pos += 2;
                    }
                    _ => {
                        s.push('\\');
                        self.pos += 1;
                    }
                },
                Some(c) => {
                    s.push(c);
                    self.pos += 1;
                }
            }
        }
    }
}

fn bare_word(word: String, col: usize) -> Result<Pred, DomainError> {
    if RESERVED_WORDS.contains(&word.as_str()) {
        return Err(query_err(
            col,
            format!(
                "{word} is reserved (terms are always combined with AND); \
                 to search for the word, write \"{word}\""
            ),
        ));
    }
    text_pred(word, col)
}

fn text_pred(text: String, col: usize) -> Result<Pred, DomainError> {
    if text.is_empty() {
        return Err(query_err(col, "empty search text \"\""));
    }
    Ok(Pred::Text(text.to_ascii_lowercase()))
}

fn lookup_field(name: &str) -> Option<Field> {
    if let Some(kind) = name
        .get(..ENTITY_PREFIX.len())
        .filter(|p| p.eq_ignore_ascii_case(ENTITY_PREFIX))
        .and_then(|_| name.get(ENTITY_PREFIX.len()..))
    {
        return EntityKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str().eq_ignore_ascii_case(kind))
            .map(Field::Entity);
    }
    FIELDS
        .iter()
        .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, f, _)| *f)
}

fn unknown_field(name: &str, col: usize) -> DomainError {
    let is_entity = name
        .get(..ENTITY_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(ENTITY_PREFIX));
    if is_entity {
        return query_err(
            col,
            format!(
                "unknown entity kind in {name:?}; expected entity. followed by one of {}",
                EntityKind::expected()
            ),
        );
    }
    let fields: Vec<&str> = FIELDS
        .iter()
        .filter(|(_, _, alias)| !alias)
        .map(|(n, _, _)| *n)
        .collect();
    query_err(
        col,
        format!(
            "unknown field {name:?}; expected one of {}, entity.<kind> (e.g. entity.device, \
             entity.user); to search for text containing ':', '<', '>' or '=', put it in double quotes",
            fields.join(", ")
        ),
    )
}

/// Checks and converts the raw values for `field`.
fn build(field: Field, op: Option<Op>, values: Vec<Raw>) -> Result<Pred, DomainError> {
    if op.is_some() {
        if let Some(second) = values.get(1) {
            return Err(query_err(
                second.col,
                "a comparison takes a single value, not a list",
            ));
        }
    }
    Ok(match field {
        Field::Severity => Pred::Severity(cmp(op, values, |v| {
            enum_value(v, "severity", Severity::parse_loose, Severity::expected)
        })?),
        Field::Status => Pred::Status(each(values, |v| {
            enum_value(v, "status", AlertStatus::parse_loose, AlertStatus::expected)
        })?),
        Field::Classification => Pred::Classification(each(values, |v| {
            enum_value(
                v,
                "classification",
                Classification::parse_loose,
                Classification::expected,
            )
        })?),
        Field::Determination => Pred::Determination(each(values, |v| {
            enum_value(
                v,
                "determination",
                Determination::parse_loose,
                Determination::expected,
            )
        })?),
        Field::Str(StrField::ServiceSource) => Pred::Str(
            StrField::ServiceSource,
            each(values, |v| Ok(service_source_canonical(&v.text)))?,
        ),
        Field::Str(f) => Pred::Str(f, each(values, |v| Ok(v.text))?),
        Field::Tag => Pred::Tag(each(values, |v| Ok(v.text))?),
        Field::Entity(kind) => Pred::Entity(
            kind,
            each(values, |v| {
                normalise(kind, &v.text)
                    .ok_or_else(|| query_err(v.col, format!("entity.{kind} value is blank")))
            })?,
        ),
        Field::Time(f) => Pred::Time(f, cmp(op, values, time_value)?),
    })
}

fn each<T>(
    values: Vec<Raw>,
    conv: impl Fn(Raw) -> Result<T, DomainError>,
) -> Result<Vec<T>, DomainError> {
    values.into_iter().map(conv).collect()
}

fn cmp<T>(
    op: Option<Op>,
    values: Vec<Raw>,
    conv: impl Fn(Raw) -> Result<T, DomainError>,
) -> Result<Cmp<T>, DomainError> {
    match op {
        None => Ok(Cmp::AnyOf(each(values, conv)?)),
        Some(op) => {
            let mut vs = each(values, conv)?;
            // `build` has checked there is exactly one; `values` guarantees at least one.
            match vs.pop() {
                Some(v) => Ok(Cmp::Ord(op, v)),
                None => Err(query_err(1, "expected a value")),
            }
        }
    }
}

fn enum_value<T>(
    v: Raw,
    what: &str,
    parse: fn(&str) -> Option<T>,
    expected: fn() -> String,
) -> Result<T, DomainError> {
    parse(&v.text).ok_or_else(|| {
        query_err(
            v.col,
            format!(
                "unknown {what} {:?}; expected one of {}",
                v.text,
                expected()
            ),
        )
    })
}

const TIME_HELP: &str = "expected an RFC 3339 date-time with an offset (e.g. \
     2026-01-01T00:00:00Z) or a relative time: now, now-45s, now-30m, now-12h, now-7d, now-2w";

/// `now`, `now-<n><unit>` or RFC 3339.
fn time_value(v: Raw) -> Result<TimeValue, DomainError> {
    let text = v.text.as_str();
    let now_part = text.get(..3).filter(|p| p.eq_ignore_ascii_case("now"));
    if now_part.is_none() {
        return Timestamp::parse_rfc3339(text)
            .map(TimeValue::At)
            .map_err(|e| query_err(v.col, format!("{e}; {TIME_HELP}")));
    }
    let rest = text.get(3..).unwrap_or("");
    if rest.is_empty() {
        return Ok(TimeValue::Ago(0));
    }
    let bad = || query_err(v.col, format!("bad relative time {text:?}; {TIME_HELP}"));
    let span = rest.strip_prefix('-').ok_or_else(bad)?;
    let digits_end = span.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (digits, unit) = span.split_at(digits_end);
    if digits.is_empty() {
        return Err(bad());
    }
    let unit_micros: i64 = match unit {
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => DAY_MICROS,
        "w" => 7 * DAY_MICROS,
        _ => {
            return Err(query_err(
                v.col,
                format!("bad unit in {text:?}: expected s, m, h, d or w"),
            ))
        }
    };
    digits
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_micros))
        .map(TimeValue::Ago)
        .ok_or_else(|| query_err(v.col, format!("relative time {text:?} is too far back")))
}
