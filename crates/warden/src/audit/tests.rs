use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::chain;
use super::*;
use crate::auth::principal::{Actor, AgentIdentity, AuthMethod, Binding, Principal, PrincipalKind};

const TOKEN: &str = "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNlY3JldA";

fn principal() -> Principal {
    let mut attributes = serde_json::Map::new();
    attributes.insert("employeeId".into(), json!("E123"));
    Principal {
        kind: PrincipalKind::User,
        subject: "alice".into(),
        issuer: Some("https://idp.example".into()),
        tenant: Some("acme".into()),
        groups: vec!["hr".into()],
        roles: vec!["employee".into()],
        scopes: BTreeSet::from(["tools:call".to_string()]),
        client_id: Some("cursor".into()),
        agent: Some(AgentIdentity { id: "spiffe://acme/agent/planner".into(), source: "act" }),
        act: vec![
            Actor { subject: "planner".into(), issuer: Some("https://idp.example".into()), client_id: None },
            Actor { subject: "orchestrator".into(), issuer: None, client_id: Some("orch".into()) },
        ],
        workload: None,
        method: AuthMethod::Jwt { provider: "corp".into() },
        binding: Binding::Dpop { jkt: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into() },
        expires_at: Some(1_900_000_000),
        attributes: Arc::new(attributes),
    }
}

fn record(i: u64) -> AuditRecord {
    let mut r = AuditRecord::new(
        format!("req-{i}"),
        &principal(),
        "tools/call",
        Resource { kind: ResourceKind::Tool, id: "hr__get_time_off".into() },
        Decision::Allow,
    );
    r.virtual_server = Some("hr".into());
    r.backend = Some("hr".into());
    r.policies = vec!["employee-own-time-off".into()];
    r.reason = "permitted".into();
    r.outcome = Outcome::Success;
    r.arguments = Some(json!({"employee_id": "E123"}));
    r
}

fn temp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    (dir, path)
}

/// Writes `n` records (no runtime: inline flushing) and returns the last hash.
fn write_chain(path: &Path, n: u64) -> String {
    let log = AuditLog::open(path).unwrap();
    for i in 0..n {
        log.append(record(i)).unwrap();
    }
    log.flush().unwrap();
    log.last_hash()
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().map(str::to_string).collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

fn problem(path: &Path) -> String {
    let report = verify(path).unwrap();
    assert!(!report.ok, "{report:?}");
    report.problem.unwrap()
}

#[test]
fn a_chain_of_records_verifies() {
    let (_dir, path) = temp();
    let last = write_chain(&path, 20);
    let report = verify(&path).unwrap();
    assert_eq!(report, VerifyReport { records: 20, ok: true, problem: None, last_hash: last });
}

#[test]
fn an_empty_or_missing_file() {
    let (_dir, path) = temp();
    assert!(matches!(verify(&path), Err(AuditError::Io { .. })));
    std::fs::write(&path, "").unwrap();
    let report = verify(&path).unwrap();
    assert!(report.ok);
    assert_eq!(report.records, 0);
    assert_eq!(report.last_hash, GENESIS_PREV);
}

#[test]
fn the_line_format() {
    let (_dir, path) = temp();
    write_chain(&path, 2);
    let lines = lines(&path);
    let first: Value = serde_json::from_str(&lines[0]).unwrap();
    let second: Value = serde_json::from_str(&lines[1]).unwrap();
    assert_eq!(first["seq"], 0);
    assert_eq!(first["prev"], GENESIS_PREV);
    assert_eq!(second["seq"], 1);
    assert_eq!(second["prev"], first["hash"]);
    assert_eq!(first["requestId"], "req-0");
    assert_eq!(first["resource"], json!({"type": "Tool", "id": "hr__get_time_off"}));
    assert_eq!(first["decision"], "allow");
    assert_eq!(first["outcome"], "success");
    assert_eq!(first["virtualServer"], "hr");
    assert_eq!(first["principal"]["act"][1]["subject"], "orchestrator");
    humantime::parse_rfc3339(first["time"].as_str().unwrap()).unwrap();
    assert!(first["time"].as_str().unwrap().ends_with('Z'));
    // `hash` is the last member, over the line without it.
    let (canonical, hash) = chain::unseal(lines[0].as_bytes()).unwrap();
    assert_eq!(first["hash"], hash);
    assert_eq!(chain::sha256_hex(&canonical), hash);
    let mut without: Value = first.clone();
    without.as_object_mut().unwrap().remove("hash");
    assert_eq!(serde_json::from_slice::<Value>(&canonical).unwrap(), without);
}

#[test]
fn a_deleted_record_is_detected() {
    let (_dir, path) = temp();
    write_chain(&path, 10);
    let mut l = lines(&path);
    l.remove(4);
    write_lines(&path, &l);
    assert_eq!(problem(&path), "line 5 (seq 5): record deleted: seq 4 is missing");
    assert_eq!(verify(&path).unwrap().records, 4);

    let mut l = lines(&path);
    l.drain(1..3);
    write_lines(&path, &l);
    assert_eq!(problem(&path), "line 2 (seq 3): records deleted: seq 1 to 2 are missing");

    let mut l = lines(&path);
    l.remove(0);
    write_lines(&path, &l);
    assert_eq!(problem(&path), "line 1 (seq 3): records deleted: seq 0 to 2 are missing");
}

#[test]
fn an_edited_record_is_detected() {
    let (_dir, path) = temp();
    write_chain(&path, 10);
    let mut l = lines(&path);
    assert!(l[2].contains(r#""decision":"allow""#));
    l[2] = l[2].replace(r#""decision":"allow""#, r#""decision":"deny""#);
    write_lines(&path, &l);
    assert_eq!(problem(&path), "line 3 (seq 2): record was edited: its content does not match its hash");
}

#[test]
fn an_edited_record_with_a_recomputed_hash_breaks_the_next_link() {
    let (_dir, path) = temp();
    write_chain(&path, 10);
    let mut l = lines(&path);
    let (canonical, _) = chain::unseal(l[2].as_bytes()).unwrap();
    let edited = String::from_utf8(canonical).unwrap().replace("\"allow\"", "\"deny\"");
    let (line, _) = chain::seal(edited.as_bytes()).unwrap();
    l[2] = String::from_utf8(line).unwrap();
    write_lines(&path, &l);
    assert_eq!(
        problem(&path),
        "line 4 (seq 3): prev does not match the hash of seq 2: a record was replaced, or this one forged"
    );
}

#[test]
fn reordered_records_are_detected() {
    let (_dir, path) = temp();
    write_chain(&path, 10);
    let mut l = lines(&path);
    l.swap(3, 4);
    write_lines(&path, &l);
    assert_eq!(problem(&path), "line 4 (seq 4): records reordered: expected seq 3, which appears later at line 5");
}

#[test]
fn a_duplicated_record_is_detected() {
    let (_dir, path) = temp();
    write_chain(&path, 5);
    let mut l = lines(&path);
    let copy = l[1].clone();
    l.insert(2, copy);
    write_lines(&path, &l);
    assert_eq!(problem(&path), "line 3 (seq 1): record reordered or duplicated: expected seq 2");
}

#[test]
fn a_truncated_last_line_is_detected_and_not_continued() {
    let (_dir, path) = temp();
    write_chain(&path, 5);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &text[..text.len() - 40]).unwrap();
    assert_eq!(problem(&path), "line 5: truncated record (the file ends in an incomplete line)");
    assert_eq!(verify(&path).unwrap().records, 4);
    let err = AuditLog::open(&path).unwrap_err();
    assert!(matches!(err, AuditError::CorruptTail { .. }), "{err}");
    assert!(err.to_string().contains("incomplete"), "{err}");
    // The file is left as it was.
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text[..text.len() - 40]);
}

#[test]
fn an_edited_last_record_is_not_continued() {
    let (_dir, path) = temp();
    write_chain(&path, 3);
    let mut l = lines(&path);
    l[2] = l[2].replace("\"allow\"", "\"deny\"");
    write_lines(&path, &l);
    let err = AuditLog::open(&path).unwrap_err();
    assert!(err.to_string().contains("seq 2") && err.to_string().contains("edited"), "{err}");
}

#[test]
fn a_forged_appended_record_is_detected() {
    let (_dir, path) = temp();
    let anchor = write_chain(&path, 5);
    let good = lines(&path);

    // A copy of the last record with its seq bumped: the hash no longer fits.
    let mut l = good.clone();
    l.push(l[4].replace("\"seq\":4", "\"seq\":5"));
    write_lines(&path, &l);
    assert_eq!(problem(&path), "line 6 (seq 5): record was edited: its content does not match its hash");

    // A self-consistent record that does not link to the chain.
    let mut forged = record(5);
    forged.seq = 5;
    forged.prev = GENESIS_PREV.into();
    let (line, _) = chain::seal(&serde_json::to_vec(&forged).unwrap()).unwrap();
    let mut l = good.clone();
    l.push(String::from_utf8(line).unwrap());
    write_lines(&path, &l);
    assert_eq!(
        problem(&path),
        "line 6 (seq 5): prev does not match the hash of seq 4: a record was replaced, or this one forged"
    );

    // Fully re-chained by someone who knows the format: only the external
    // anchor of the last hash tells.
    forged.prev = anchor.clone();
    let (line, _) = chain::seal(&serde_json::to_vec(&forged).unwrap()).unwrap();
    let mut l = good;
    l.push(String::from_utf8(line).unwrap());
    write_lines(&path, &l);
    let report = verify(&path).unwrap();
    assert!(report.ok);
    assert_ne!(report.last_hash, anchor);
}

#[test]
fn reopening_continues_the_chain() {
    let (_dir, path) = temp();
    let first = write_chain(&path, 5);
    let log = AuditLog::open(&path).unwrap();
    assert_eq!(log.next_seq(), 5);
    assert_eq!(log.last_hash(), first);
    for i in 5..9 {
        log.append(record(i)).unwrap();
    }
    drop(log); // flushes
    let report = verify(&path).unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.records, 9);
}

#[test]
fn a_long_last_line_is_read_back() {
    let (_dir, path) = temp();
    let log = AuditLog::open(&path).unwrap();
    let mut r = record(0);
    r.arguments = Some(json!({"text": "x".repeat(200_000)}));
    log.append(r).unwrap();
    drop(log);
    let log = AuditLog::open(&path).unwrap();
    assert_eq!(log.next_seq(), 1);
    log.append(record(1)).unwrap();
    drop(log);
    assert_eq!(verify(&path).unwrap().records, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_form_one_valid_chain() {
    let (_dir, path) = temp();
    let log = AuditLog::open_with(&path, AuditOptions { flush_every: 7, ..AuditOptions::default() }).unwrap();
    let mut tasks = Vec::new();
    for t in 0..16u64 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50u64 {
                log.append(record(t * 1000 + i)).unwrap();
                if i % 10 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    log.flush_async().await.unwrap();
    let report = verify(&path).unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.records, 800);
    assert_eq!(report.last_hash, log.last_hash());
    let ids: HashSet<String> = lines(&path)
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["requestId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 800);
}

#[tokio::test]
async fn the_background_task_flushes_without_being_asked() {
    let (_dir, path) = temp();
    let log = AuditLog::open_with(
        &path,
        AuditOptions { flush_every: 1000, flush_interval: Duration::from_millis(20), ..AuditOptions::default() },
    )
    .unwrap();
    log.append(record(0)).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if verify(&path).unwrap().records == 1 {
            return;
        }
    }
    panic!("not flushed in the background");
}

#[test]
fn marked_arguments_are_redacted() {
    let args = json!({
        "password": "hunter2",
        "user": {"name": "alice", "ssn": "123-45-6789", "password": "nested-is-not-top-level"},
        "cards": [{"pan": "4111", "label": "work"}, {"pan": "5500", "label": "home"}],
        "accounts": {"a": {"pin": "1111", "bank": "x"}, "b": {"pin": "2222"}},
        "token": {"value": "t", "kind": "bearer"},
        "public": 3
    });
    let marked: Vec<String> =
        ["password", "user.ssn", "cards.pan", "accounts.*.pin", "token", "missing.path", ""].map(String::from).into();
    let out = redact(&args, &marked);
    assert_eq!(
        out,
        json!({
            "password": REDACTED,
            "user": {"name": "alice", "ssn": REDACTED, "password": "nested-is-not-top-level"},
            "cards": [{"pan": REDACTED, "label": "work"}, {"pan": REDACTED, "label": "home"}],
            "accounts": {"a": {"pin": REDACTED, "bank": "x"}, "b": {"pin": REDACTED}},
            "token": REDACTED,
            "public": 3
        })
    );
    assert_eq!(redact(&args, &[]), args);
    assert_eq!(redact(&json!("scalar"), &marked), json!("scalar"));
}

#[test]
fn no_credential_is_recorded() {
    let (_dir, path) = temp();
    let log = AuditLog::open(&path).unwrap();
    let mut r = record(0);
    r.arguments = Some(redact(&json!({"query": "q", "apiToken": TOKEN}), &["apiToken".to_string()]));
    log.append(r).unwrap();
    drop(log);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(TOKEN));
    assert!(!text.contains("hunter2"));
    assert!(text.contains("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"), "the DPoP thumbprint identifies the key");

    fn keys(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    out.push(k.to_ascii_lowercase());
                    keys(v, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| keys(v, out)),
            _ => {}
        }
    }
    let mut names = Vec::new();
    keys(&principal_json(&principal()), &mut names);
    for bad in ["token", "secret", "password", "authorization", "credential", "key", "proof", "dpop"] {
        assert!(!names.iter().any(|n| n.contains(bad) && n != "jkt"), "principal field {bad:?} in {names:?}");
    }
}
