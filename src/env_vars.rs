//! Which `SPOOR_*` environment variables Spoor reads, and what it does with
//! the others.
//!
//! In: the names of the process's environment variables. Out: an
//! [`EnvReport`] sorting the unknown `SPOOR_*` names into Kubernetes
//! service-link variables (ignored: Kubernetes injects them into every pod of
//! a namespace with a Service named `spoor` or `spoor-…`) and other unknown
//! names (a warning naming them; the process still starts).

/// Every `SPOOR_*` variable Spoor reads (through the flags in `config`).
pub const KNOWN_ENV: &[&str] = &[
    "SPOOR_CONFIG",
    "SPOOR_DATA_DIR",
    "SPOOR_OTLP_GRPC_ADDR",
    "SPOOR_OTLP_HTTP_ADDR",
    "SPOOR_ZIPKIN_ADDR",
    "SPOOR_QUERY_HTTP_ADDR",
    "SPOOR_QUERY_GRPC_ADDR",
    "SPOOR_ADMIN_ADDR",
    "SPOOR_SAMPLING_HTTP_ADDR",
    "SPOOR_SAMPLING_GRPC_ADDR",
    "SPOOR_JAEGER_GRPC_ADDR",
    "SPOOR_JAEGER_THRIFT_HTTP_ADDR",
    "SPOOR_AGENT_COMPACT_ADDR",
    "SPOOR_AGENT_BINARY_ADDR",
    "SPOOR_RETENTION",
    "SPOOR_MAX_DISK_BYTES",
    "SPOOR_OTLP_HTTP_MAX_BODY_BYTES",
    "SPOOR_OTLP_GRPC_MAX_MESSAGE_BYTES",
    "SPOOR_ZIPKIN_MAX_BODY_BYTES",
    "SPOOR_LOG_LEVEL",
    "SPOOR_KAFKA_BROKERS",
    "SPOOR_NODE_NAME",
    "SPOOR_CLUSTER_STORES",
];

/// The unknown `SPOOR_*` variables of an environment, sorted by kind.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EnvReport {
    /// Kubernetes service-link variables (ignored without a word).
    pub service_links: Vec<String>,
    /// Other unknown `SPOOR_*` names (worth a warning: likely a typo).
    pub unknown: Vec<String>,
}

impl EnvReport {
    /// Sorts the `SPOOR_*` names among `names` that Spoor does not read.
    pub fn from_names<I, S>(names: I) -> EnvReport
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut report = EnvReport::default();
        for name in names {
            let name = name.as_ref();
            if !name.starts_with("SPOOR_") || KNOWN_ENV.contains(&name) {
                continue;
            }
            if is_service_link(name) {
                report.service_links.push(name.to_string());
            } else {
                report.unknown.push(name.to_string());
            }
        }
        report
    }

    /// The warning for the unknown names, if any.
    pub fn warning(&self) -> Option<String> {
        if self.unknown.is_empty() {
            return None;
        }
        Some(format!(
            "ignoring unknown environment variable(s) {}; Spoor reads: {}",
            self.unknown.join(", "),
            KNOWN_ENV.join(", ")
        ))
    }
}

/// True when `name` has the shape of a variable Kubernetes derives from a
/// Service whose name starts with `spoor` (upper-cased, `-` → `_`):
/// `<SVC>_SERVICE_HOST`, `<SVC>_SERVICE_PORT`, `<SVC>_SERVICE_PORT_<PORT_NAME>`,
/// `<SVC>_PORT`, `<SVC>_PORT_<n>_<TCP|UDP|SCTP>` and that name followed by
/// `_PROTO`, `_PORT` or `_ADDR`.
pub fn is_service_link(name: &str) -> bool {
    let tokens: Vec<&str> = name.split('_').collect();
    if tokens.first() != Some(&"SPOOR") || tokens.iter().any(|t| !is_name_token(t)) {
        return false;
    }
    // The service part is SPOOR plus any further tokens; try every split.
    (1..tokens.len()).any(|i| is_link_suffix(&tokens[i..]))
}

fn is_name_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn is_link_suffix(suffix: &[&str]) -> bool {
    let is_port_number = |t: &str| t.parse::<u16>().is_ok_and(|n| n > 0);
    let is_protocol = |t: &str| matches!(t, "TCP" | "UDP" | "SCTP");
    match suffix {
        ["SERVICE", "HOST"] | ["SERVICE", "PORT"] | ["PORT"] => true,
        // A named port: the port name may itself hold underscores.
        ["SERVICE", "PORT", _, ..] => true,
        ["PORT", number, protocol] => is_port_number(number) && is_protocol(protocol),
        ["PORT", number, protocol, "PROTO" | "PORT" | "ADDR"] => {
            is_port_number(number) && is_protocol(protocol)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_links_of_a_service_named_spoor_are_recognised() {
        for name in [
            "SPOOR_SERVICE_HOST",
            "SPOOR_SERVICE_PORT",
            "SPOOR_SERVICE_PORT_HTTP_QUERY",
            "SPOOR_PORT",
            "SPOOR_PORT_16686_TCP",
            "SPOOR_PORT_16686_TCP_PROTO",
            "SPOOR_PORT_16686_TCP_PORT",
            "SPOOR_PORT_16686_TCP_ADDR",
            "SPOOR_PORT_6831_UDP_ADDR",
            "SPOOR_QUERY_SERVICE_HOST",
            "SPOOR_QUERY_PORT_16685_TCP_ADDR",
            "SPOOR_HEADLESS_SERVICE_PORT_GRPC_QUERY",
            "SPOOR_2_PORT",
        ] {
            assert!(is_service_link(name), "{name}");
        }
    }

    #[test]
    fn other_names_are_not_service_links() {
        for name in [
            "SPOOR_DATADIR",
            "SPOOR_ADMIN_ADDR",
            "SPOOR_PORT_16686",
            "SPOOR_PORT_99999_TCP",
            "SPOOR_PORT_0_TCP",
            "SPOOR_PORT_16686_HTTP",
            "SPOOR_PORT_16686_TCP_HOST",
            "SPOOR_SERVICE",
            "SPOOR__PORT",
            "SPOOR_query_PORT",
            "JAEGER_SERVICE_HOST",
            "SPOORX_PORT",
        ] {
            assert!(!is_service_link(name), "{name}");
        }
    }

    #[test]
    fn report_sorts_links_from_typos_and_skips_known_and_foreign_names() {
        let report = EnvReport::from_names([
            "SPOOR_DATA_DIR",
            "SPOOR_SERVICE_HOST",
            "SPOOR_PORT_9411_TCP",
            "SPOOR_DATADIR",
            "PATH",
            "JAEGER_PORT",
        ]);
        assert_eq!(
            report.service_links,
            vec!["SPOOR_SERVICE_HOST", "SPOOR_PORT_9411_TCP"]
        );
        assert_eq!(report.unknown, vec!["SPOOR_DATADIR"]);
        let warning = report.warning().expect("a warning");
        assert!(warning.contains("SPOOR_DATADIR"), "{warning}");
        assert!(!warning.contains("SPOOR_SERVICE_HOST"), "{warning}");
        assert_eq!(EnvReport::from_names(["SPOOR_PORT"]).warning(), None);
    }

    #[test]
    fn no_known_variable_looks_like_a_service_link() {
        for name in KNOWN_ENV {
            assert!(!is_service_link(name), "{name}");
        }
    }
}
