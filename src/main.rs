//! The `gazette` binary: parse the command line, load the configuration,
//! run one command.

use clap::Parser;
use gazette::cli::{run, Cli};
use gazette::config::Config;

fn main() {
    let cli = Cli::parse();
    // `inspect` reads no configuration: a broken gazette.toml must not stop
    // an operator from asking how a message is understood.
    if let gazette::cli::Cmd::Inspect(args) = &cli.command {
        std::process::exit(gazette::cli::inspect(args));
    }
    let config = match Config::load() {
        Ok(c) => {
            for w in &c.warnings {
                eprintln!("gazette: warning: {w}");
            }
            c
        }
        Err(e) => {
            eprintln!("gazette: {e}");
            std::process::exit(78); // EX_CONFIG
        }
    };
    // One-shot commands print their own results; their log stays quiet
    // unless GAZETTE_LOG asks, so an MTA's bounce of `ingest` output stays
    // readable. No colours unless a person is watching.
    let level = match (&cli.command, std::env::var("GAZETTE_LOG")) {
        (_, Ok(v)) if !v.is_empty() => v,
        (gazette::cli::Cmd::Serve, _) => config.log.clone(),
        _ => "warn".into(),
    };
    gazette::logging::init(&level);
    quiet_broken_pipe();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime starts");
    let code = match runtime.block_on(run(cli, config)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gazette: {}", gazette::redact::terminal(&format!("{e:#}")));
            // A setting found bad only when used (the DKIM key file) is
            // still a configuration error.
            if e.downcast_ref::<gazette::config::ConfigError>().is_some() {
                78 // EX_CONFIG
            } else if matches!(
                e.downcast_ref::<gazette::store::StoreError>(),
                Some(gazette::store::StoreError::Missing { .. })
            ) {
                66 // EX_NOINPUT
            } else {
                1
            }
        }
    };
    std::process::exit(code);
}

/// `gazette member export | head` closes our stdout early; that is the
/// reader's choice, not a crash, so end quietly instead of printing a panic.
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.contains("failed printing to stdout") && text.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}
