//! The condition language: one grammar for the queue's search box, saved filters, and later
//! suppression and automation rules, so an analyst's query means the same thing everywhere.
//!
//! ```text
//! severity>=medium status:new,inProgress source:endpoint entity.device:"ws-17" -tag:benign mimikatz
//! ```
//!
//! Terms separated by whitespace must all hold. A term is `field:v1,v2` (any of), `field<v`
//! (`<`, `<=`, `>`, `>=` on severity and times), or free text (a bare word or a quoted string)
//! looked for in the title; a leading `-` negates any term.
//!
//! The parsed [`Condition`] is evaluated here in memory ([`Condition::eval`], for rules on a
//! new alert) and compiled to SQL by the store. The AST is public and matched exhaustively by
//! the compiler, so a new predicate cannot be added here without the SQL side noticing.
//!
//! Relative times (`now-7d`) stay relative in the AST and are resolved against a `now` passed
//! in, so a saved rule keeps meaning "the last seven days" and tests use a fixed clock.
use crate::alert::AlertFacts;
use crate::entity::{EntityKey, EntityKind};
use crate::error::DomainError;
use crate::timestamp::Timestamp;
use crate::vocab::{AlertStatus, Classification, Determination, Severity};

mod parser;

#[cfg(feature = "proptest")]
pub mod arbitrary;

#[cfg(test)]
mod tests;

/// Longest query accepted, in characters: a search box, not a program.
pub const MAX_QUERY_CHARS: usize = 4096;
/// Most terms in one query, which bounds the SQL it compiles to.
pub const MAX_TERMS: usize = 64;
/// Most values in one `field:v1,v2,…` list.
pub const MAX_VALUES: usize = 100;

/// Parses a query. Empty or blank input is the condition that matches everything.
///
/// Errors are [`DomainError::Query`] whose `col` is the 1-based character column of the
/// offending token (one past the end when something is missing at the end).
pub fn parse(input: &str) -> Result<Condition, DomainError> {
    parser::parse(input)
}

/// A parsed query: terms that must all hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Condition {
    pub terms: Vec<Term>,
}

impl Condition {
    /// Whether the alert matches. `now` resolves relative times such as `now-7d`.
    pub fn eval(&self, facts: &AlertFacts<'_>, now: Timestamp) -> bool {
        self.terms.iter().all(|t| t.eval(facts, now))
    }

    /// True for the condition that matches everything (blank query).
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

impl std::str::FromStr for Condition {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, DomainError> {
        parse(s)
    }
}

/// One term, possibly negated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub negated: bool,
    pub pred: Pred,
}

impl Term {
    /// Whether this term holds for the alert.
    pub fn eval(&self, facts: &AlertFacts<'_>, now: Timestamp) -> bool {
        self.pred.eval(facts, now) != self.negated
    }
}

/// What a term tests. Every list is non-empty and every value already validated and
/// canonicalised by the parser, so evaluators never have to reject anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pred {
    /// The title contains this needle, ignoring ASCII case only. Stored ASCII-lower-cased:
    /// ASCII-only folding is what SQLite's `lower()` does, so both evaluators agree on every
    /// title, including non-ASCII ones (`É`, the Kelvin sign) that full Unicode folding would
    /// treat differently.
    Text(String),
    /// Severity, compared by [`Severity::rank`] (so `unknown` and `unknownFutureValue` meet).
    Severity(Cmp<Severity>),
    Status(Vec<AlertStatus>),
    Classification(Vec<Classification>),
    Determination(Vec<Determination>),
    /// A string field equal to any of the values (byte equality). A missing optional field
    /// equals nothing.
    Str(StrField, Vec<String>),
    /// Any of the alert's tags equals any of the values.
    Tag(Vec<String>),
    /// The alert has an entity key of this kind with any of these (normalised) values.
    Entity(EntityKind, Vec<String>),
    /// A time field compared with an absolute or relative instant.
    Time(TimeField, Cmp<TimeValue>),
}

impl Pred {
    /// Whether the predicate holds (before negation).
    pub fn eval(&self, facts: &AlertFacts<'_>, now: Timestamp) -> bool {
        let r = facts.record;
        match self {
            Pred::Text(needle) => contains_ignore_ascii_case(&r.title, needle),
            Pred::Severity(cmp) => cmp.holds(r.severity.rank(), |s| s.rank()),
            Pred::Status(vs) => vs.contains(&r.status),
            Pred::Classification(vs) => vs.contains(&r.classification),
            Pred::Determination(vs) => vs.contains(&r.determination),
            Pred::Str(field, vs) => field
                .get(r)
                .is_some_and(|have| vs.iter().any(|v| v == have)),
            Pred::Tag(vs) => r.tags.iter().any(|t| vs.contains(t)),
            Pred::Entity(kind, vs) => facts
                .entities
                .iter()
                .any(|EntityKey { kind: k, value }| k == kind && vs.contains(value)),
            Pred::Time(field, cmp) => cmp.holds(field.get(r).micros(), |t| t.resolve(now).micros()),
        }
    }
}

/// Equality with any of a list, or one ordered comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmp<T> {
    AnyOf(Vec<T>),
    Ord(Op, T),
}

impl<T> Cmp<T> {
    /// Whether `have` satisfies this comparison, with values mapped to the same key first.
    fn holds<K: Ord>(&self, have: K, key: impl Fn(&T) -> K) -> bool {
        match self {
            Cmp::AnyOf(vs) => vs.iter().any(|v| key(v) == have),
            Cmp::Ord(op, v) => op.holds(&have, &key(v)),
        }
    }
}

/// An ordered comparison: the field's value on the left, the query's value on the right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    /// `lhs op rhs`.
    pub fn holds<T: Ord + ?Sized>(self, lhs: &T, rhs: &T) -> bool {
        match self {
            Op::Lt => lhs < rhs,
            Op::Le => lhs <= rhs,
            Op::Gt => lhs > rhs,
            Op::Ge => lhs >= rhs,
        }
    }
    /// The operator as written in queries, which is also its SQL spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// An instant in a query: absolute, or so long before "now".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeValue {
    At(Timestamp),
    /// Microseconds before now (never negative).
    Ago(i64),
}

impl TimeValue {
    /// The instant this value denotes when the query runs at `now`. The store must use this
    /// too, so SQL and in-memory evaluation resolve `now-7d` identically.
    pub fn resolve(self, now: Timestamp) -> Timestamp {
        match self {
            TimeValue::At(t) => t,
            TimeValue::Ago(back) => now.plus_micros(back.saturating_neg()),
        }
    }
}

/// String fields compared by exact equality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StrField {
    Id,
    ProviderAlertId,
    IncidentId,
    Title,
    Category,
    ServiceSource,
    DetectionSource,
    InvestigationState,
    AssignedTo,
}

impl StrField {
    /// Every string field.
    pub const ALL: &'static [StrField] = &[
        StrField::Id,
        StrField::ProviderAlertId,
        StrField::IncidentId,
        StrField::Title,
        StrField::Category,
        StrField::ServiceSource,
        StrField::DetectionSource,
        StrField::InvestigationState,
        StrField::AssignedTo,
    ];

    /// The field's value on a record; `None` when an optional field is unset.
    pub fn get(self, r: &crate::alert::AlertRecord) -> Option<&str> {
        match self {
            StrField::Id => Some(&r.id),
            StrField::ProviderAlertId => r.provider_alert_id.as_deref(),
            StrField::IncidentId => r.incident_id.as_deref(),
            StrField::Title => Some(&r.title),
            StrField::Category => r.category.as_deref(),
            StrField::ServiceSource => Some(&r.service_source),
            StrField::DetectionSource => Some(&r.detection_source),
            StrField::InvestigationState => r.investigation_state.as_deref(),
            StrField::AssignedTo => r.assigned_to.as_deref(),
        }
    }

    /// Whether the field can be unset, so that compilers know where NULL needs care.
    pub const fn optional(self) -> bool {
        matches!(
            self,
            StrField::ProviderAlertId
                | StrField::IncidentId
                | StrField::Category
                | StrField::InvestigationState
                | StrField::AssignedTo
        )
    }

    /// The query-language name.
    pub const fn name(self) -> &'static str {
        match self {
            StrField::Id => "id",
            StrField::ProviderAlertId => "providerAlertId",
            StrField::IncidentId => "incidentId",
            StrField::Title => "title",
            StrField::Category => "category",
            StrField::ServiceSource => "serviceSource",
            StrField::DetectionSource => "detectionSource",
            StrField::InvestigationState => "investigationState",
            StrField::AssignedTo => "assignedTo",
        }
    }
}

/// Time fields, compared in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeField {
    FirstActivity,
    LastActivity,
    Created,
    LastUpdate,
}

impl TimeField {
    /// Every time field.
    pub const ALL: &'static [TimeField] = &[
        TimeField::FirstActivity,
        TimeField::LastActivity,
        TimeField::Created,
        TimeField::LastUpdate,
    ];

    /// The field's value on a record.
    pub fn get(self, r: &crate::alert::AlertRecord) -> Timestamp {
        match self {
            TimeField::FirstActivity => r.first_activity,
            TimeField::LastActivity => r.last_activity,
            TimeField::Created => r.created,
            TimeField::LastUpdate => r.last_update,
        }
    }

    /// The query-language name.
    pub const fn name(self) -> &'static str {
        match self {
            TimeField::FirstActivity => "firstActivity",
            TimeField::LastActivity => "lastActivity",
            TimeField::Created => "created",
            TimeField::LastUpdate => "lastUpdate",
        }
    }
}

/// `haystack.to_ascii_lowercase().contains(needle)` for an already lower-cased needle, without
/// allocating: byte windows are enough because ASCII folding never changes a UTF-8 sequence's
/// length and a valid needle can only match at a character boundary.
fn contains_ignore_ascii_case(haystack: &str, lower_needle: &str) -> bool {
    let n = lower_needle.as_bytes();
    if n.is_empty() {
        return true;
    }
    haystack
        .as_bytes()
        .windows(n.len())
        .any(|w| w.eq_ignore_ascii_case(n))
}
