//! `warden policy test|explain|schema` and `warden tools pin`: the
//! operator's tools for policies and tool pinning, run against a config file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use warden::config::{self, Config, PolicySettings, VirtualServerConfig};
use warden::policy::{PolicyEngine, PolicyRequest, Target};

/// The virtual server named `name`, or the only one that has `what`.
fn pick_vs<'a>(
    cfg: &'a Config,
    name: Option<&str>,
    what: &str,
    has: impl Fn(&VirtualServerConfig) -> bool,
) -> Result<&'a Arc<VirtualServerConfig>, String> {
    match name {
        Some(n) => {
            let vs =
                cfg.virtual_servers.iter().find(|v| v.name == n).ok_or(format!("no virtual server named {n:?}"))?;
            if has(vs) { Ok(vs) } else { Err(format!("virtual server {n:?} has no {what} block")) }
        }
        None => {
            let with: Vec<_> = cfg.virtual_servers.iter().filter(|v| has(v)).collect();
            match with.as_slice() {
                [one] => Ok(one),
                [] => Err(format!("no virtual server has a {what} block")),
                _ => Err(format!("several virtual servers have a {what} block: name one with --virtual-server")),
            }
        }
    }
}

fn policy_of(config_path: &Path, vs: Option<&str>) -> Result<(Arc<PolicySettings>, Arc<PolicyEngine>), String> {
    let cfg = config::load_file(config_path).map_err(|e| e.to_string())?;
    let vs = pick_vs(&cfg, vs, "policy", |v| v.policy.is_some())?;
    let policy = vs.policy.clone().ok_or("no policy")?;
    let engine = policy.engine.clone().ok_or("the policy has no Cedar policies (only an external decision point)")?;
    Ok((policy, engine))
}

/// Gives a case's resource the labels the config assigns, unless the case names its own.
fn fill_labels(policy: &PolicySettings) -> impl Fn(&mut PolicyRequest) + '_ {
    move |req| match &mut req.target {
        Target::Tool(t) if t.labels.is_empty() => t.labels = policy.labels.tool(&t.name),
        Target::Resource(r) if r.labels.is_empty() => r.labels = policy.labels.resource(&r.uri),
        Target::Prompt(p) if p.labels.is_empty() => p.labels = policy.labels.prompt(&p.name),
        _ => {}
    }
}

/// `warden policy test`: runs case files; exit 0 when every case passes,
/// 1 when one fails, 2 when a file or the config cannot be used.
pub fn test(config_path: &Path, vs: Option<&str>, files: &[PathBuf]) -> ExitCode {
    let (policy, engine) = match policy_of(config_path, vs) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let fill = fill_labels(&policy);
    let (mut passed, mut failed) = (0, 0);
    for f in files {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{}: cannot read: {e}", f.display());
                return ExitCode::from(2);
            }
        };
        let results = match warden::policy::run_cases_with(&engine, &text, &fill) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{}: {e}", f.display());
                return ExitCode::from(2);
            }
        };
        for r in results {
            println!("{r}");
            if r.passed() {
                passed += 1;
            } else {
                failed += 1;
            }
        }
    }
    println!("policy test: {passed} passed, {failed} failed");
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// `warden policy explain`: the decision for each case (or the one named),
/// with each deciding policy's file and line.
pub fn explain(config_path: &Path, vs: Option<&str>, file: &Path, case: Option<&str>) -> ExitCode {
    let (policy, engine) = match policy_of(config_path, vs) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let cases =
        match std::fs::read_to_string(file).map_err(|e| e.to_string()).and_then(|t| warden::policy::parse_cases(&t)) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                return ExitCode::from(2);
            }
        };
    let fill = fill_labels(&policy);
    let mut shown = 0;
    for (name, _, mut req) in cases {
        if case.is_some_and(|c| c != name) {
            continue;
        }
        fill(&mut req);
        println!("case:      {name}");
        print!("{}", warden::policy::explain(&engine, &req));
        println!();
        shown += 1;
    }
    if shown == 0 {
        eprintln!("no case named {:?} in {}", case.unwrap_or_default(), file.display());
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}

/// `warden policy schema`: the Cedar schema policies are validated against.
pub fn schema(config_path: &Path, vs: Option<&str>) -> ExitCode {
    match policy_of(config_path, vs) {
        Ok((_, engine)) => {
            print!("{}", engine.schema_text());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

/// What `warden tools pin` was asked.
pub struct PinArgs {
    pub config: PathBuf,
    pub virtual_server: Option<String>,
    pub tools: Vec<String>,
    pub dry_run: bool,
    pub revoke: Vec<String>,
}

/// `warden tools pin`: lists the backends' tools, prints each one's state
/// (approved, changed, new; pinned tools no longer served: gone) and
/// approves the selected ones (all by default) in the pin file.
pub async fn pin(args: PinArgs) -> Result<(), String> {
    let cfg = config::load_file(&args.config).map_err(|e| e.to_string())?;
    let vs_cfg = pick_vs(&cfg, args.virtual_server.as_deref(), "pinning", |v| v.pinning.is_some())?.clone();
    let settings = vs_cfg.pinning.clone().ok_or("no pinning")?;
    let mut pins = (*settings.pins).clone();
    if !args.revoke.is_empty() {
        for name in &args.revoke {
            let what = if pins.revoke(name) { "revoked" } else { "not pinned" };
            println!("{what:<9} {name}");
        }
        if !args.dry_run {
            pins.save(&settings.file).map_err(|e| e.to_string())?;
        }
        return Ok(());
    }
    let mut globs = globset::GlobSetBuilder::new();
    for t in &args.tools {
        globs.add(globset::Glob::new(t).map_err(|e| format!("--tool {t:?}: {e}"))?);
    }
    let globs = globs.build().map_err(|e| e.to_string())?;
    let gw = warden::gateway::Gateway::new(cfg.clone()).map_err(|e| e.to_string())?;
    let rt = gw.runtime();
    let vs = rt.virtual_servers.iter().find(|v| v.config.name == vs_cfg.name).ok_or("virtual server not built")?;
    let tools = vs.tool_definitions().await;
    gw.stop_backends();
    let tools = tools?;
    let mut approved = 0;
    for (name, backend, def) in &tools {
        let verdict = warden::pinning::verdict(&settings, name, def);
        let selected = args.tools.is_empty() || globs.is_match(name);
        println!("{:<9} {name}  (backend {backend})", verdict.label());
        if selected && verdict != warden::pinning::PinVerdict::Approved {
            pins.approve(name, backend, &warden::pinning::tool_hash(def));
            approved += 1;
        }
    }
    let listed: std::collections::HashSet<&str> = tools.iter().map(|(n, _, _)| n.as_str()).collect();
    for (name, entry) in settings.pins.iter() {
        if !listed.contains(name.as_str()) {
            println!("{:<9} {name}  (backend {})", "gone", entry.backend);
        }
    }
    if args.dry_run {
        println!("dry run: {approved} tool(s) would be approved in {}", settings.file.display());
    } else {
        pins.save(&settings.file).map_err(|e| e.to_string())?;
        println!("{approved} tool(s) approved in {}", settings.file.display());
    }
    Ok(())
}
