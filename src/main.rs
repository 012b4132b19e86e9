//! The `kraftd` command line. Parses arguments and calls into the library; errors are
//! reported with their full context and a non-zero exit status.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use kraftd::cli::args::{
    Cli, Command, ConfigArgs, MetadataCommand, MetadataQuorumCommand, StorageCommand,
};
use kraftd::config::{self, LoadedConfig};
use kraftd::{app, cli, observability};

fn load(args: &ConfigArgs) -> anyhow::Result<LoadedConfig> {
    Ok(config::load(
        Some(&args.config),
        std::env::vars(),
        &args.overrides,
    )?)
}

fn print_warnings(loaded: &LoadedConfig) {
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
}

fn serve(loaded: LoadedConfig, dev_data_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let _guard = observability::logging::init(
        loaded.config.log_format,
        loaded.config.otlp_endpoint.as_deref(),
    )
    .map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("kraftd")
        .build()
        .context("cannot start the async runtime")?;
    let config = loaded.config.clone();
    runtime.block_on(app::run(loaded, |addresses| {
        if let Some(data_dir) = &dev_data_dir {
            eprint!("{}", cli::dev::banner(&config, data_dir, addresses.http));
        }
    }))?;
    Ok(())
}

/// A one-thread runtime for the admin commands and the load generator (which then takes a
/// single core, leaving the rest to a server under test on the same machine).
fn current_thread_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn run(cli: Cli) -> anyhow::Result<()> {
    // Stays long: one arm per command line subcommand.
    match cli.command {
        Command::Server(args) => {
            let loaded = load(&args)?;
            serve(loaded, None)
        }
        Command::Dev {
            data_dir,
            print_config,
            overrides,
        } => {
            if print_config {
                print!("{}", cli::dev::dev_properties(&data_dir));
                return Ok(());
            }
            let loaded = cli::dev::config(&data_dir, std::env::vars(), &overrides)?;
            if let Some(id) = cli::dev::format_on_first_run(&loaded.config)? {
                eprintln!("Formatted {} for a new cluster {id}.", data_dir.display());
            }
            serve(loaded, Some(data_dir))
        }
        Command::MetadataQuorum(args) => {
            let bootstrap = args
                .bootstrap_controller
                .or(args.bootstrap_server)
                .context("--bootstrap-server or --bootstrap-controller is required")?;
            let timeout = std::time::Duration::from_millis(args.timeout_ms);
            let runtime = current_thread_runtime()?;
            let view = runtime.block_on(cli::metadata_quorum::describe(&bootstrap, timeout))?;
            let MetadataQuorumCommand::Describe {
                status,
                human_readable,
                ..
            } = args.command;
            if status {
                print!("{}", view.format_status());
            } else {
                let now = human_readable.then(|| kraftd::clock::Clock::new().wall_ms());
                print!("{}", view.format_replication(now));
            }
            Ok(())
        }
        Command::Topics(args) => {
            let runtime = current_thread_runtime()?;
            let out = runtime.block_on(cli::topics::run(&args))?;
            print!("{out}");
            Ok(())
        }
        Command::ConsumerGroups(args) => {
            let runtime = current_thread_runtime()?;
            let out = runtime.block_on(cli::consumer_groups::run(&args))?;
            print!("{}", out.stdout);
            eprint!("{}", out.stderr);
            anyhow::ensure!(
                out.failures == 0,
                "{} consumer group operation(s) failed; see above",
                out.failures
            );
            Ok(())
        }
        Command::Perf(command) => {
            let runtime = current_thread_runtime()?;
            let out = runtime.block_on(cli::perf::run(&command))?;
            print!("{out}");
            Ok(())
        }
        Command::Metadata(MetadataCommand::Dump { path }) => {
            let errors = cli::metadata_dump::dump_to(&path, &mut std::io::stdout().lock())?;
            anyhow::ensure!(
                errors == 0,
                "{errors} batch(es) or record(s) could not be decoded; see above"
            );
            Ok(())
        }
        Command::Storage(StorageCommand::RandomUuid) => {
            println!("{}", cli::storage::random_uuid());
            Ok(())
        }
        Command::Storage(StorageCommand::Format {
            cluster_id,
            ignore_formatted,
            config,
        }) => {
            let loaded = load(&config)?;
            print_warnings(&loaded);
            print!(
                "{}",
                cli::storage::format(&loaded.config, &cluster_id, ignore_formatted)?
            );
            Ok(())
        }
        Command::Storage(StorageCommand::Info { config }) => {
            let loaded = load(&config)?;
            print_warnings(&loaded);
            let (report, ok) = cli::storage::info(&loaded.config);
            print!("{report}");
            anyhow::ensure!(ok, "some directories are not ready; see above");
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
