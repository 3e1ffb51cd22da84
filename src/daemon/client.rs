//! The client side of the daemon's socket: one request, one answer.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::protocol::{Request, Response};

/// How long a client waits for an answer (a start reads the kernel's BTF
/// and runs the verifier).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// Why the daemon could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "the scxpack daemon is not running (nothing answers at {}): start it with `systemctl start scxpack-daemon` or `scxpack daemon`",
        socket.display()
    )]
    NotRunning {
        socket: PathBuf,
        source: std::io::Error,
    },
    #[error("talking to the daemon at {}: {source}", socket.display())]
    Io {
        socket: PathBuf,
        source: std::io::Error,
    },
    #[error("the daemon at {} answered something unreadable: {reason}", socket.display())]
    BadAnswer { socket: PathBuf, reason: String },
}

/// Sends `request` to the daemon at `socket` and reads its answer.
pub fn ask(socket: &Path, request: &Request) -> Result<Response, ClientError> {
    let io = |source| ClientError::Io {
        socket: socket.to_path_buf(),
        source,
    };
    let mut stream = UnixStream::connect(socket).map_err(|source| {
        use std::io::ErrorKind::{ConnectionRefused, NotFound};
        if matches!(source.kind(), NotFound | ConnectionRefused) {
            ClientError::NotRunning {
                socket: socket.to_path_buf(),
                source,
            }
        } else {
            io(source)
        }
    })?;
    stream.set_read_timeout(Some(ANSWER_TIMEOUT)).map_err(io)?;
    let mut line = serde_json::to_string(request).expect("requests serialize");
    line.push('\n');
    stream.write_all(line.as_bytes()).map_err(io)?;
    let mut answer = String::new();
    BufReader::new(&stream).read_line(&mut answer).map_err(io)?;
    serde_json::from_str(&answer).map_err(|e| ClientError::BadAnswer {
        socket: socket.to_path_buf(),
        reason: if answer.is_empty() {
            "no answer".to_string()
        } else {
            e.to_string()
        },
    })
}
