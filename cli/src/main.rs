//! `enroll`: the desktop enrollment agent and admin tool for macOS and Linux.
//!
//! The binary parses the command line, hands each command group to its module in the library
//! (`enroll_cli::agent`, `demo`, `scan`, `server`, `simulate`) and turns an error into the
//! user's message and exit code through `enroll_cli::errors::describe` (and, with `--json`, an
//! `{"error": {"code", "message"}}` document on stdout unless the command printed one).

use clap::{Parser, Subcommand};
use enroll_cli::global::GlobalArgs;
use enroll_cli::out::Out;
use enroll_cli::{agent, demo, scan, server, simulate};

#[derive(Parser)]
#[command(
    name = "enroll",
    version,
    about = "Device enrollment agent and reference MDM enrollment server"
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start an embedded reference server on loopback and enroll this machine end to end.
    Demo(demo::DemoArgs),
    #[command(flatten)]
    Agent(agent::AgentCommand),
    /// Decode enrollment QR codes from image files, a directory of frames, or the camera.
    Scan(scan::ScanArgs),
    /// Run the reference server, or perform admin actions on a running one.
    #[command(subcommand)]
    Server(server::ServerCommand),
    /// Enroll simulated Apple devices (SCEP + MDM) into an MDM server, and report timings.
    Simulate(simulate::SimulateArgs),
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let out = Out {
        json: cli.global.json,
    };
    match &cli.command {
        Command::Demo(args) => demo::run(&cli.global, args, &out).await,
        Command::Agent(cmd) => agent::run(&cli.global, cmd, &out).await,
        Command::Scan(args) => scan::run(&cli.global, args, &out).await,
        Command::Server(cmd) => server::run(cmd, &out).await,
        Command::Simulate(args) => simulate::run(args, &out).await,
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let level = match cli.global.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ENROLL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let json = cli.global.json;
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let d = enroll_cli::errors::describe(&e);
            // One JSON document per command: a command that printed its own (a rejected
            // upload's report) keeps it.
            if json && !enroll_cli::out::printed() {
                let mut error = serde_json::json!({"code": d.code, "message": d.message});
                if let Some(n) = d.attempts_left {
                    error["attempts_left"] = serde_json::Value::from(n);
                }
                enroll_cli::out::print_stdout(serde_json::json!({ "error": error }));
            }
            eprintln!("error: {}", d.message);
            tracing::debug!(error = %format!("{e:#}"), "failure detail");
            std::process::ExitCode::from(d.exit)
        }
    }
}
