//! The `gazette` binary: parse the command line, load the configuration,
//! run one command.

use clap::Parser;
use gazette::cli::{run, Cli};
use gazette::config::Config;

fn main() {
    let cli = Cli::parse();
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gazette: {e}");
            std::process::exit(78); // EX_CONFIG
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("GAZETTE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime starts");
    let code = match runtime.block_on(run(cli, config)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gazette: {e:#}");
            1
        }
    };
    std::process::exit(code);
}
