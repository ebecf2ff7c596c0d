//! How much of the machine ingest's stages may use, one rule for every crate.
//!
//! The store's writer is ingest's one serial stage. The stages that feed it (request
//! parsing in the server, document compression in the store) each run on at most one core
//! less than the machine has, so the writer always finds a core (docs/benchmarks.md,
//! "Eleventh session").

/// The cores this process may run on (1 if the system cannot say).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// How many jobs of one stage that feeds the writer may run at once: one core less than
/// the machine has, and at least one.
pub fn beside_writer() -> usize {
    cores().saturating_sub(1).max(1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn leaves_the_writer_a_core_but_never_nothing() {
        let cores = super::cores();
        assert!(cores >= 1);
        assert_eq!(super::beside_writer(), (cores - 1).max(1));
    }
}
