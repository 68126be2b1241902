use proptest::prelude::*;

use super::*;

fn err(input: &str) -> IdError {
    match SpiffeId::parse(input) {
        Err(SpiffeError::Id(e)) => e,
        other => panic!("{input:?}: expected an ID error, got {other:?}"),
    }
}

#[test]
fn accepts_valid_ids_and_keeps_them_verbatim() {
    for input in [
        "spiffe://example.org",
        "spiffe://example.org/agent",
        "spiffe://example.org/ns/prod/sa/Billing-API_v2.1",
        "spiffe://a",
        "spiffe://1.2.3.4/x",
        "spiffe://my_domain-1.example/a/b/c",
        "spiffe://example.org/...",
        "spiffe://example.org/.a/b.",
        "spiffe://example.org/UPPER/lower/0123",
    ] {
        let id = SpiffeId::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(id.to_string(), input);
    }
}

#[test]
fn splits_trust_domain_and_path() {
    let id = SpiffeId::parse("spiffe://example.org/ns/prod").unwrap();
    assert_eq!(id.trust_domain().as_str(), "example.org");
    assert_eq!(id.path(), "/ns/prod");
    let root = SpiffeId::parse("spiffe://example.org").unwrap();
    assert_eq!(root.path(), "");
    assert!(id.is_member_of(root.trust_domain()));
}

#[test]
fn empty_input_is_refused() {
    assert_eq!(err(""), IdError::Empty);
}

#[test]
fn scheme_must_be_lowercase_spiffe() {
    for input in [
        "SPIFFE://example.org/a",
        "Spiffe://example.org/a",
        "https://example.org/a",
        "spiffe:/example.org/a",
        "spiffe:example.org",
        "example.org/a",
        "//example.org/a",
        " spiffe://example.org/a",
    ] {
        assert_eq!(err(input), IdError::WrongScheme, "{input}");
    }
}

#[test]
fn trust_domain_must_be_present() {
    assert_eq!(err("spiffe://"), IdError::EmptyTrustDomain);
    assert_eq!(err("spiffe:///path"), IdError::EmptyTrustDomain);
}

#[test]
fn trust_domain_must_be_lowercase() {
    assert_eq!(err("spiffe://Example.org/a"), IdError::TrustDomainChar('E'));
    assert_eq!(err("spiffe://EXAMPLE.ORG"), IdError::TrustDomainChar('E'));
}

#[test]
fn trust_domain_characters_are_limited() {
    for (input, c) in [
        ("spiffe://exa mple.org", ' '),
        ("spiffe://exa%41mple.org", '%'),
        ("spiffe://example.org+x/a", '+'),
        ("spiffe://[fe80]/a", '['),
        ("spiffe://exämple.org", 'ä'),
        ("spiffe://example.org\\a", '\\'),
    ] {
        assert_eq!(err(input), IdError::TrustDomainChar(c), "{input}");
    }
}

#[test]
fn trust_domain_has_no_port_or_userinfo() {
    assert_eq!(err("spiffe://example.org:8443/a"), IdError::Port);
    assert_eq!(err("spiffe://example.org:/a"), IdError::Port);
    assert_eq!(err("spiffe://user@example.org/a"), IdError::UserInfo);
    assert_eq!(err("spiffe://user:pw@example.org/a"), IdError::UserInfo);
}

#[test]
fn query_and_fragment_are_refused() {
    assert_eq!(err("spiffe://example.org/a?b=c"), IdError::Query);
    assert_eq!(err("spiffe://example.org?b"), IdError::Query);
    assert_eq!(err("spiffe://example.org/a#frag"), IdError::Fragment);
    assert_eq!(err("spiffe://example.org#frag"), IdError::Fragment);
}

#[test]
fn path_segments_are_checked() {
    assert_eq!(err("spiffe://example.org/"), IdError::TrailingSlash);
    assert_eq!(err("spiffe://example.org/a/"), IdError::TrailingSlash);
    assert_eq!(err("spiffe://example.org//a"), IdError::EmptySegment);
    assert_eq!(err("spiffe://example.org/a//b"), IdError::EmptySegment);
    assert_eq!(err("spiffe://example.org/./a"), IdError::DotSegment);
    assert_eq!(err("spiffe://example.org/a/.."), IdError::DotSegment);
    assert_eq!(err("spiffe://example.org/a/../b"), IdError::DotSegment);
}

#[test]
fn path_characters_are_limited() {
    assert_eq!(err("spiffe://example.org/a%20b"), IdError::PercentEncoded);
    assert_eq!(err("spiffe://example.org/%2e%2e"), IdError::PercentEncoded);
    for (input, c) in [
        ("spiffe://example.org/a b", ' '),
        ("spiffe://example.org/a:b", ':'),
        ("spiffe://example.org/a@b", '@'),
        ("spiffe://example.org/a+b", '+'),
        ("spiffe://example.org/a~b", '~'),
        ("spiffe://example.org/ä", 'ä'),
    ] {
        assert_eq!(err(input), IdError::PathChar(c), "{input}");
    }
}

#[test]
fn length_limit_is_2048_bytes() {
    let prefix = "spiffe://example.org/";
    let at_limit = format!("{prefix}{}", "a".repeat(MAX_ID_BYTES - prefix.len()));
    assert_eq!(at_limit.len(), 2048);
    assert!(SpiffeId::parse(&at_limit).is_ok());
    let over = format!("{at_limit}b");
    assert_eq!(err(&over), IdError::TooLong(2049));
}

#[test]
fn trust_domain_limit_is_255_bytes() {
    let ok = "a".repeat(255);
    assert!(TrustDomain::parse(&ok).is_ok());
    let long = "a".repeat(256);
    assert_eq!(err(&format!("spiffe://{long}/x")), IdError::TrustDomainTooLong(256));
}

#[test]
fn trust_domain_parse_takes_a_bare_name() {
    let td = TrustDomain::parse("example.org").unwrap();
    assert_eq!(td.to_string(), "example.org");
    assert_eq!(td.id_string(), "spiffe://example.org");
    for (input, e) in [
        ("", IdError::EmptyTrustDomain),
        ("Example.org", IdError::TrustDomainChar('E')),
        ("example.org:80", IdError::Port),
        ("u@example.org", IdError::UserInfo),
        ("spiffe://example.org", IdError::Port),
        ("example.org/a", IdError::TrustDomainChar('/')),
    ] {
        assert_eq!(TrustDomain::parse(input), Err(SpiffeError::Id(e)), "{input}");
    }
}

#[test]
fn trust_domain_parse_name_or_id_accepts_both_forms() {
    let a = TrustDomain::parse_name_or_id("example.org").unwrap();
    let b = TrustDomain::parse_name_or_id("spiffe://example.org").unwrap();
    assert_eq!(a, b);
    assert_eq!(TrustDomain::parse_name_or_id("spiffe://example.org/a"), Err(IdError::UnexpectedPath.into()));
    assert!(TrustDomain::parse_name_or_id("spiffe://Example.org").is_err());
}

#[test]
fn new_checks_the_path() {
    let td = TrustDomain::parse("example.org").unwrap();
    assert_eq!(SpiffeId::new(td.clone(), "/a/b").unwrap().to_string(), "spiffe://example.org/a/b");
    assert_eq!(SpiffeId::new(td.clone(), "").unwrap().to_string(), "spiffe://example.org");
    assert_eq!(SpiffeId::new(td.clone(), "a"), Err(IdError::RelativePath.into()));
    assert_eq!(SpiffeId::new(td.clone(), "/a/"), Err(IdError::TrailingSlash.into()));
    assert_eq!(SpiffeId::new(td, "/a?b"), Err(IdError::PathChar('?').into()));
}

#[test]
fn serde_uses_the_string_form() {
    let id: SpiffeId = serde_json::from_str("\"spiffe://example.org/a\"").unwrap();
    assert_eq!(serde_json::to_string(&id).unwrap(), "\"spiffe://example.org/a\"");
    assert!(serde_json::from_str::<SpiffeId>("\"spiffe://example.org/a/\"").is_err());
}

fn trust_domain_strategy() -> impl Strategy<Value = String> {
    "[a-z0-9._-]{1,40}"
}

fn segment_strategy() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._-]{1,16}".prop_filter("dot segments are invalid", |s| s != "." && s != "..")
}

proptest! {
    #[test]
    fn parse_display_round_trips(td in trust_domain_strategy(), segs in prop::collection::vec(segment_strategy(), 0..6)) {
        let path: String = segs.iter().map(|s| format!("/{s}")).collect();
        let id = SpiffeId::new(TrustDomain::parse(&td).unwrap(), &path).unwrap();
        let text = id.to_string();
        let back = SpiffeId::parse(&text).unwrap();
        prop_assert_eq!(&back, &id);
        prop_assert_eq!(back.to_string(), text);
    }

    #[test]
    fn parse_never_panics_and_accepted_ids_are_canonical(input in "\\PC{0,64}", tail in "[a-z/.%:@?#A-Z]{0,24}") {
        for candidate in [input.clone(), format!("spiffe://{tail}"), format!("spiffe://example.org/{tail}")] {
            if let Ok(id) = SpiffeId::parse(&candidate) {
                prop_assert_eq!(id.to_string(), candidate);
            }
        }
    }
}
