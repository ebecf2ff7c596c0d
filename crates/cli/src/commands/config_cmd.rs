//! `rampart config print-default`.
use clap::Subcommand;

/// Configuration helpers.
#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Print a commented example `rampart.toml`.
    PrintDefault,
}

pub fn run(c: ConfigCmd) -> anyhow::Result<()> {
    match c {
        ConfigCmd::PrintDefault => print!("{}", crate::config::example()),
    }
    Ok(())
}
