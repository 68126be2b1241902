//! `warden`: the command-line entry point. Parses arguments, sets up
//! logging, loads configuration, runs the gateway, handles signals.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod policy_cmd;
use warden::config::{self, Config, ConfigError, DEFAULT_CONFIG_YAML};

#[derive(Parser)]
#[command(name = "warden", version, about = "Warden: an identity-aware gateway for AI agents")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (with no -c: the embedded demo configuration on loopback).
    Serve {
        /// Configuration file (YAML).
        #[arg(short = 'c', long = "config")]
        config: Option<PathBuf>,
    },
    /// Check a configuration file and list every problem.
    Validate {
        /// Configuration file (YAML).
        #[arg(short = 'c', long = "config")]
        config: PathBuf,
    },
    /// Print the JSON Schema of the configuration file.
    Schema,
    /// Print the embedded default configuration.
    DefaultConfig,
    /// Generate a new API key: prints the key (give it to the client) and the
    /// `hash:` line for `auth.apiKeys` (the config never holds the key).
    Apikey,
    /// Audit trail tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Policy tools: test cases, explain decisions, print the schema.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Tool-definition pinning.
    Tools {
        #[command(subcommand)]
        command: ToolsCommand,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Run YAML case files (principal, action, resource, context → expected
    /// decision) against a virtual server's policies; prints which policies
    /// permitted or forbade each case. Exit 0 all pass, 1 a case failed, 2 error.
    Test {
        /// Configuration file (YAML) with the `policy` block.
        #[arg(short = 'c', long = "config")]
        config: PathBuf,
        /// The virtual server (needed when several have policies).
        #[arg(long = "virtual-server")]
        virtual_server: Option<String>,
        /// Case files.
        #[arg(required = true)]
        cases: Vec<PathBuf>,
    },
    /// Explain the decision for the cases of a case file (or the one named).
    Explain {
        /// Configuration file (YAML) with the `policy` block.
        #[arg(short = 'c', long = "config")]
        config: PathBuf,
        /// The virtual server (needed when several have policies).
        #[arg(long = "virtual-server")]
        virtual_server: Option<String>,
        /// Only the case with this name.
        #[arg(long = "case")]
        case: Option<String>,
        /// Case file.
        file: PathBuf,
    },
    /// Print the Cedar schema the virtual server's policies are validated against.
    Schema {
        /// Configuration file (YAML) with the `policy` block.
        #[arg(short = 'c', long = "config")]
        config: PathBuf,
        /// The virtual server (needed when several have policies).
        #[arg(long = "virtual-server")]
        virtual_server: Option<String>,
    },
}

#[derive(Subcommand)]
enum ToolsCommand {
    /// List the backends' tools with their pin state (approved, changed, new,
    /// gone) and approve the selected ones (all by default) in the pin file.
    Pin {
        /// Configuration file (YAML) with the `pinning` block.
        #[arg(short = 'c', long = "config")]
        config: PathBuf,
        /// The virtual server (needed when several have pinning).
        #[arg(long = "virtual-server")]
        virtual_server: Option<String>,
        /// Approve only tools matching this glob (repeatable).
        #[arg(long = "tool")]
        tool: Vec<String>,
        /// Print what would change; write nothing.
        #[arg(long = "dry-run")]
        dry_run: bool,
        /// Remove the pin of this tool instead (repeatable).
        #[arg(long = "revoke")]
        revoke: Vec<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check a hash-chained audit file: exit 0 when intact (prints the record
    /// count and the last hash to anchor elsewhere), 1 with the first problem.
    Verify {
        /// The audit file (JSON lines).
        file: PathBuf,
    },
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("WARDEN_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("WARDEN_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn load(path: Option<&PathBuf>) -> Result<Config, ConfigError> {
    match path {
        Some(p) => config::load_file(p),
        None => config::load_str(DEFAULT_CONFIG_YAML, "(embedded default)", &|k| std::env::var(k).ok()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Schema => {
            println!("{}", config::json_schema());
            ExitCode::SUCCESS
        }
        Command::DefaultConfig => {
            print!("{DEFAULT_CONFIG_YAML}");
            ExitCode::SUCCESS
        }
        Command::Audit { command: AuditCommand::Verify { file } } => match warden::audit::verify(&file) {
            Ok(r) if r.ok => {
                println!("{}: intact, {} record(s), last hash {}", file.display(), r.records, r.last_hash);
                ExitCode::SUCCESS
            }
            Ok(r) => {
                eprintln!("{}: {}", file.display(), r.problem.unwrap_or_else(|| "chain broken".into()));
                ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                ExitCode::from(1)
            }
        },
        Command::Policy { command } => match command {
            PolicyCommand::Test { config, virtual_server, cases } => {
                policy_cmd::test(&config, virtual_server.as_deref(), &cases)
            }
            PolicyCommand::Explain { config, virtual_server, case, file } => {
                policy_cmd::explain(&config, virtual_server.as_deref(), &file, case.as_deref())
            }
            PolicyCommand::Schema { config, virtual_server } => policy_cmd::schema(&config, virtual_server.as_deref()),
        },
        Command::Tools { command: ToolsCommand::Pin { config, virtual_server, tool, dry_run, revoke } } => {
            init_logging();
            let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("cannot start the async runtime: {e}");
                    return ExitCode::from(1);
                }
            };
            let args = policy_cmd::PinArgs { config, virtual_server, tools: tool, dry_run, revoke };
            match rt.block_on(policy_cmd::pin(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("warden tools pin: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Apikey => {
            let (key, hash) = warden::auth::apikey::generate();
            println!("key:  {key}");
            println!("hash: {hash}");
            ExitCode::SUCCESS
        }
        Command::Validate { config } => match config::load_file(&config) {
            Ok(c) => {
                println!(
                    "{}: valid ({} listener(s), {} virtual server(s), {} backend(s))",
                    config.display(),
                    c.listeners.len(),
                    c.virtual_servers.len(),
                    c.virtual_servers.iter().map(|v| v.backends.len()).sum::<usize>()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        },
        Command::Serve { config } => {
            init_logging();
            let cfg = match load(config.as_ref()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(1);
                }
            };
            let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("cannot start the async runtime: {e}");
                    return ExitCode::from(1);
                }
            };
            match rt.block_on(serve(cfg, config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("warden: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

async fn serve(cfg: Config, path: Option<PathBuf>) -> anyhow::Result<()> {
    let embedded = path.is_none();
    let mut running = warden::server::start(cfg.clone()).await?;
    let gw = running.gateway.clone();
    let _watcher = path.clone().and_then(|p| warden::server::watch_config(gw.clone(), p));
    print_banner(&cfg, &running, embedded);
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                if let Some(p) = &path {
                    tracing::info!("SIGHUP: reloading configuration");
                    let _ = warden::server::reload_from(&gw, p).await;
                } else {
                    tracing::info!("SIGHUP ignored: running the embedded configuration");
                }
            }
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    tracing::info!("shutting down: draining in-flight requests");
    gw.begin_shutdown();
    running.wait().await;
    warden::telemetry::flush_access_log();
    Ok(())
}

fn print_banner(cfg: &Config, running: &warden::server::RunningGateway, embedded: bool) {
    let base = running.base_url();
    eprintln!();
    eprintln!(
        "Warden {} is running{}.",
        env!("CARGO_PKG_VERSION"),
        if embedded { " with the embedded demo configuration" } else { "" }
    );
    for vs in &cfg.virtual_servers {
        let names: Vec<&str> = vs.backends.iter().map(|b| b.name.as_str()).collect();
        eprintln!("  MCP endpoint  {base}{}   (virtual server {:?}, backends: {})", vs.path, vs.name, names.join(", "));
    }
    eprintln!("  Admin         http://{}/healthz  /readyz  /metrics", running.admin);
    if let (Some(idp), Some(vs)) = (&cfg.dev_idp, cfg.virtual_servers.first().filter(|v| v.auth.is_some())) {
        print_sign_in(idp, &base, &vs.path, embedded);
    } else if let Some(vs) = cfg.virtual_servers.first() {
        eprintln!();
        eprintln!("Try it with the MCP Inspector:");
        eprintln!(
            "  npx @modelcontextprotocol/inspector@1.0.3 --cli {base}{} --transport http --method tools/list",
            vs.path
        );
    }
    eprintln!();
}

/// How to sign in when the development identity provider protects the
/// first virtual server (docs/dev-idp.md).
fn print_sign_in(idp: &warden::config::DevIdpSettings, base: &str, path: &str, embedded: bool) {
    let users: Vec<&str> = idp.raw.users.iter().map(|u| u.username.as_str()).collect();
    eprintln!();
    eprintln!("Sign in with the development identity provider (docs/dev-idp.md; not for production):");
    eprintln!("  users         {}{}", users.join(", "), if embedded { " (password = user name)" } else { "" });
    eprintln!(
        "  An MCP client (Inspector UI, Claude, Cursor, an SDK) finds {base}/oauth/authorize from the 401 at {base}{path}."
    );
    if embedded {
        eprintln!("  As the demo agent (client credentials), then the MCP Inspector CLI:");
        eprintln!(
            "  TOKEN=$(curl -s -u demo-agent:demo-agent-secret -d grant_type=client_credentials {base}/oauth/token | sed 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/')"
        );
        eprintln!(
            "  npx @modelcontextprotocol/inspector@1.0.3 --cli {base}{path} --transport http --header \"Authorization: Bearer $TOKEN\" --method tools/list"
        );
    }
}
