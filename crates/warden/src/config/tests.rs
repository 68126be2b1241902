use super::*;

fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
}

fn problems(yaml: &str) -> Vec<String> {
    match load_str(yaml, "test", &env(&[])) {
        Ok(_) => panic!("expected problems"),
        Err(ConfigError::Invalid { problems, .. }) => problems,
        Err(e) => panic!("unexpected error {e}"),
    }
}

#[test]
fn embedded_default_loads_on_loopback() {
    let c = load_str(DEFAULT_CONFIG_YAML, "default", &env(&[])).unwrap();
    assert_eq!(c.listeners[0].address.to_string(), DEFAULT_LISTEN);
    assert!(c.listeners[0].address.ip().is_loopback());
    assert_eq!(c.admin_address.to_string(), DEFAULT_ADMIN);
    assert_eq!(c.virtual_servers[0].path, "/mcp");
    assert_eq!(c.virtual_servers[0].backends.len(), 2);
    assert!(c.sessions.key.is_none());
}

#[test]
fn env_expansion_with_defaults() {
    let yaml = "listeners: [{address: '${ADDR:-127.0.0.1:1}'}]\nvirtualServers: [{name: a, path: /mcp, backends: [{name: b, url: '${URL}/mcp'}]}]";
    let c = load_str(yaml, "t", &env(&[("URL", "http://127.0.0.1:9")])).unwrap();
    assert_eq!(c.listeners[0].address.port(), 1);
    match &c.virtual_servers[0].backends[0].kind {
        BackendKind::StreamableHttp { url, .. } => assert_eq!(url.as_str(), "http://127.0.0.1:9/mcp"),
        k => panic!("{k:?}"),
    }
    assert_eq!(expand_str("a$$b", &env(&[])).unwrap().as_deref(), Some("a$b"));
    assert_eq!(expand_str("${X:-d}", &env(&[("X", "")])).unwrap().as_deref(), Some("d"));
    assert!(expand_str("${1X}", &env(&[])).is_err());
}

#[test]
fn unset_variable_names_its_key_path() {
    let yaml = "listeners: [{address: '127.0.0.1:1'}]\nvirtualServers: [{name: a, path: /mcp, backends: [{name: b, url: '${NOPE}'}]}]";
    let p = problems(yaml);
    assert!(p.iter().any(|l| l == "virtualServers[0].backends[0].url: environment variable NOPE is not set"), "{p:?}");
}

#[test]
fn every_semantic_problem_is_listed_with_its_path() {
    let yaml = r#"
listeners:
  - address: "127.0.0.1:1"
  - address: "not an address"
    name: x
virtualServers:
  - name: a
    path: mcp
    backends:
      - name: ok
        url: http://127.0.0.1:1/mcp
      - name: rel
        url: /relative
      - name: Bad_Name
        builtin: clock
      - name: two
        builtin: clock
        url: http://x
      - name: ok
        builtin: nope
    curation:
      allow: ["[bad"]
"#;
    let p = problems(yaml);
    let expect = [
        "listeners[1].address: invalid address",
        "virtualServers[0].path: must start with '/'",
        "virtualServers[0].backends[1].url: relative URL not allowed",
        "virtualServers[0].backends[2].name: \"Bad_Name\" is not a valid backend name",
        "virtualServers[0].backends[3]: exactly one of `url`, `stdio`, `builtin` is required",
        "virtualServers[0].backends[4].name: duplicate backend name \"ok\"",
        "virtualServers[0].backends[4].builtin: unknown built-in \"nope\"",
        "virtualServers[0].curation.allow[0]: invalid glob",
    ];
    for e in expect {
        assert!(p.iter().any(|l| l.starts_with(e)), "missing {e:?} in {p:#?}");
    }
}

#[test]
fn unknown_keys_are_rejected_with_path() {
    let yaml = "listeners: [{address: '127.0.0.1:1'}]\nvirtualServers: [{name: a, path: /mcp, backends: [{name: b, builtin: clock, colour: red}]}]";
    let p = problems(yaml);
    assert!(p[0].starts_with("virtualServers[0].backends[0].colour: unknown field `colour`"), "{p:?}");
}

#[test]
fn sizes_durations_and_session_key() {
    let yaml = "listeners: [{address: '127.0.0.1:1'}]\nlimits: {maxRequestBody: 1MiB, requestTimeout: 2s}\nsessions: {key: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=}\nvirtualServers: [{name: a, path: /mcp/, backends: [{name: b, builtin: notes}]}]";
    let c = load_str(yaml, "t", &env(&[])).unwrap();
    assert_eq!(c.limits.max_request_body, 1 << 20);
    assert_eq!(c.limits.request_timeout.as_secs(), 2);
    assert_eq!(c.virtual_servers[0].backends[0].timeout.as_secs(), 2);
    assert_eq!(c.virtual_servers[0].path, "/mcp");
    assert!(c.sessions.key.is_some());
    let bad = "listeners: [{address: '127.0.0.1:1'}]\nsessions: {key: c2hvcnQ=}\nvirtualServers: [{name: a, path: /mcp, backends: [{name: b, builtin: notes}]}]";
    assert!(problems(bad).iter().any(|l| l.starts_with("sessions.key: must decode to 32 bytes")));
    assert_eq!(ByteSize::parse("4kb").unwrap().0, 4000);
    assert!(ByteSize::parse("4 parsecs").is_err());
}

#[test]
fn duplicate_paths_on_a_listener_are_refused() {
    let yaml = "listeners: [{address: '127.0.0.1:1'}]\nvirtualServers: [{name: a, path: /mcp, backends: [{name: b, builtin: notes}]}, {name: b, path: /mcp, backends: [{name: b, builtin: notes}]}]";
    assert!(problems(yaml).iter().any(|l| l.starts_with("virtualServers[1].path: path \"/mcp\" is already used")));
}

#[test]
fn schema_is_json_and_names_the_top_level_keys() {
    let s: serde_json::Value = serde_json::from_str(&json_schema()).unwrap();
    let props = s["properties"].as_object().unwrap();
    for k in ["listeners", "admin", "sessions", "limits", "virtualServers"] {
        assert!(props.contains_key(k), "{k}");
    }
}
