//! The Kafka-protocol broker the split-deployment tests run against: tansu
//! (installed by scripts/install-kafka-tools.sh, found by
//! scripts/find-tansu.sh), started on a free loopback port with its memory
//! storage engine, from an empty directory (it reads a `.env` file in its
//! working directory).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running broker; killed on drop.
pub struct Tansu {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Tansu {
    /// Starts the broker. Panics when it is not installed, naming the
    /// script that installs it.
    pub fn start() -> Tansu {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/find-tansu.sh");
        let found = Command::new("bash")
            .arg(&script)
            .output()
            .expect("running scripts/find-tansu.sh");
        assert!(
            found.status.success(),
            "the tansu broker is not installed ({}); run scripts/install-kafka-tools.sh",
            String::from_utf8_lossy(&found.stderr).trim()
        );
        let binary = String::from_utf8(found.stdout).unwrap().trim().to_string();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("tcp://{addr}");
        let child = Command::new(binary)
            .current_dir(dir.path())
            .args(["broker", "--storage-engine", "memory://tansu/"])
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn tansu");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen on {addr}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Tansu {
            child,
            addr,
            _dir: dir,
        }
    }

    /// `host:port` for `kafka.brokers`.
    pub fn brokers(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
