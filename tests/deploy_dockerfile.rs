//! The Dockerfile against the binary (no container engine runs here): the
//! ports it exposes are exactly the ones Spoor listens on by default (TCP
//! and UDP), the environment it sets holds only variables Spoor reads, its
//! data volume is Spoor's data directory, the command it runs is a real
//! subcommand, and the binary it starts is the one the build stage builds.
//!
//! In: `Dockerfile` at the repository root and the built `spoor` binary.
//! Out: test results.

use std::collections::BTreeSet;
use std::process::Command;

struct Dockerfile {
    /// Instructions of the final stage: (keyword, rest of the line).
    last_stage: Vec<(String, String)>,
    /// Every instruction.
    all: Vec<(String, String)>,
}

fn parse() -> Dockerfile {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile"))
        .expect("Dockerfile at the repository root");
    let mut all = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(body) = line.strip_suffix('\\') {
            current.push_str(body);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        let (keyword, rest) = current.split_once(' ').unwrap_or((current.as_str(), ""));
        all.push((keyword.to_uppercase(), rest.trim().to_string()));
        current.clear();
    }
    let start = all.iter().rposition(|(k, _)| k == "FROM").expect("FROM");
    Dockerfile {
        last_stage: all[start..].to_vec(),
        all,
    }
}

impl Dockerfile {
    fn values(&self, keyword: &str) -> Vec<String> {
        self.last_stage
            .iter()
            .filter(|(k, _)| k == keyword)
            .map(|(_, v)| v.clone())
            .collect()
    }
    fn json_array(&self, keyword: &str) -> Vec<String> {
        let v = self.values(keyword);
        assert_eq!(v.len(), 1, "one {keyword} in the final stage");
        serde_json::from_str(&v[0]).unwrap_or_else(|e| panic!("{keyword} as a JSON array: {e}"))
    }
    fn env(&self) -> Vec<(String, String)> {
        self.values("ENV")
            .iter()
            .flat_map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .map(|kv| {
                let (k, v) = kv.split_once('=').expect("ENV KEY=VALUE");
                (k.to_string(), v.to_string())
            })
            .collect()
    }
}

fn print_config(env: &[(String, String)]) -> serde_yaml::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_spoor"))
        .arg("print-config")
        .env_clear()
        .envs(env.iter().cloned())
        .output()
        .expect("run spoor");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("unknown environment variable"),
        "the Dockerfile sets a variable Spoor does not read: {stderr}"
    );
    serde_yaml::from_slice(&out.stdout).expect("yaml")
}

#[test]
fn exposed_ports_are_the_ones_spoor_listens_on() {
    let docker = parse();
    let mut exposed = BTreeSet::new();
    for line in docker.values("EXPOSE") {
        for port in line.split_whitespace() {
            let (number, proto) = port.split_once('/').unwrap_or((port, "tcp"));
            exposed.insert((number.parse::<u16>().expect("port"), proto.to_string()));
        }
    }
    let config = print_config(&docker.env());
    let mut listening = BTreeSet::new();
    for (name, addr) in config["listen"].as_mapping().expect("listen") {
        let name = name.as_str().unwrap();
        let port = addr.as_str().unwrap().rsplit(':').next().unwrap();
        let proto = if name.starts_with("agent_") {
            "udp"
        } else {
            "tcp"
        };
        listening.insert((port.parse::<u16>().unwrap(), proto.to_string()));
    }
    assert_eq!(exposed, listening);
}

#[test]
fn data_volume_user_and_entrypoint_match_the_binary() {
    let docker = parse();
    let config = print_config(&docker.env());
    let data_dir = config["data_dir"].as_str().unwrap().to_string();
    assert_eq!(docker.json_array("VOLUME"), vec![data_dir.clone()]);
    assert_eq!(docker.values("WORKDIR"), vec![data_dir.clone()]);
    let run = docker.values("RUN").join(" ");
    assert!(
        run.contains(&format!("chown 10001:10001 {data_dir}")),
        "{run}"
    );
    assert_eq!(docker.values("USER"), vec!["10001:10001".to_string()]);

    let entrypoint = docker.json_array("ENTRYPOINT");
    let copies = docker.values("COPY");
    assert!(
        copies
            .iter()
            .any(|c| c.starts_with("--from=build") && c.ends_with(&entrypoint[0])),
        "the entrypoint {} is not copied from the build stage: {copies:?}",
        entrypoint[0]
    );
    let build = docker
        .all
        .iter()
        .filter(|(k, _)| k == "RUN")
        .map(|(_, v)| v.as_str())
        .find(|v| v.contains("cargo build"))
        .expect("a cargo build step");
    assert!(
        build.contains("--release") && build.contains("--bin spoor"),
        "{build}"
    );
    assert!(
        build.contains(&format!("target/release/spoor {}", entrypoint[0])),
        "{build}"
    );

    // The default command is a subcommand the binary has.
    let cmd = docker.json_array("CMD");
    let out = Command::new(env!("CARGO_BIN_EXE_spoor"))
        .args(&entrypoint[1..])
        .args(&cmd)
        .arg("--help")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
