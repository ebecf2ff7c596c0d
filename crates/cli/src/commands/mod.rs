//! One module per subcommand.
pub mod bench;
pub mod config_cmd;
pub mod correlate;
pub mod demo;
pub mod ingest;
pub mod serve;
pub mod token;
pub mod user;
