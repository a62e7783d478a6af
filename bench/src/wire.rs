//! The load generator's HTTP/1.1: one keep-alive connection per load task,
//! written and read by that task alone, as `wrk` does.
//!
//! A general client (reqwest) spent more CPU than the server it measured
//! (0.75 core against 0.3 at ~8,000 requests/s), on the same cores: its
//! connection pool, its per-request header maps and the task that drives
//! each connection (a wake-up per request). Here a request is one `write`
//! of bytes formatted up front, and the answer is read in place: status
//! line, `Content-Length`, body. That is all the service sends (it never
//! chunks these answers; a chunked one is reported as an error).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Longest answer accepted (the service's are a few kB).
const MAX_ANSWER: usize = 1 << 20;
/// How long one request may take, in all.
const TIMEOUT: Duration = Duration::from_secs(30);

/// How connections reach the service.
#[derive(Debug, Clone, Default)]
pub struct Transport {
    /// TLS with this client configuration (its resumption settings say
    /// whether sessions are resumed), or plain TCP.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// A new connection for every request, closed after the answer (as a
    /// mobile app calling after a pause), instead of keep-alive.
    pub new_per_request: bool,
}

/// A plain or TLS stream.
trait Io: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Io for T {}

/// One connection to the service.
pub struct Connection {
    host: String,
    transport: Transport,
    stream: Option<Box<dyn Io>>,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("host", &self.host)
            .field("open", &self.stream.is_some())
            .finish()
    }
}

/// An answer: status code and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Connection {
    /// A connection to `host` (`127.0.0.1:<port>`), opened on first use
    /// and again after an error or a `Connection: close`.
    pub fn new(host: &str) -> Connection {
        Connection::over(host, Transport::default())
    }

    /// A connection to `host` over `transport`.
    pub fn over(host: &str, transport: Transport) -> Connection {
        Connection {
            host: host.to_owned(),
            transport,
            stream: None,
            buf: Vec::with_capacity(8192),
        }
    }

    async fn connect(&self) -> Result<Box<dyn Io>, String> {
        let stream = TcpStream::connect(&self.host)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("nodelay: {e}"))?;
        let Some(tls) = &self.transport.tls else {
            return Ok(Box::new(stream));
        };
        let ip: std::net::IpAddr = self
            .host
            .rsplit_once(':')
            .and_then(|(ip, _)| ip.parse().ok())
            .ok_or_else(|| format!("TLS to {}: not an IP address and port", self.host))?;
        let name = rustls::pki_types::ServerName::IpAddress(ip.into());
        let stream = tokio_rustls::TlsConnector::from(Arc::clone(tls))
            .connect(name, stream)
            .await
            .map_err(|e| format!("TLS handshake: {e}"))?;
        Ok(Box::new(stream))
    }

    /// Send `request` (a whole HTTP/1.1 request, see [`request`]) and read
    /// the answer.
    pub async fn send(&mut self, request: &[u8]) -> Result<Answer, String> {
        match tokio::time::timeout(TIMEOUT, self.exchange(request)).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => {
                self.stream = None;
                Err(e)
            }
            Err(_) => {
                self.stream = None;
                Err(format!("no answer within {TIMEOUT:?}"))
            }
        }
    }

    async fn exchange(&mut self, request: &[u8]) -> Result<Answer, String> {
        if self.stream.is_none() {
            self.stream = Some(self.connect().await?);
        }
        let stream = self.stream.as_mut().expect("connected above");
        stream
            .write_all(request)
            .await
            .map_err(|e| format!("write: {e}"))?;
        self.buf.clear();
        let head_end = read_head(stream, &mut self.buf).await?;
        let head = std::str::from_utf8(&self.buf[..head_end])
            .map_err(|_| "a head that is not UTF-8".to_owned())?;
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("a bad status line: {}", head.lines().next().unwrap_or("")))?;
        let mut length = None;
        let mut close = false;
        for line in head.split("\r\n").skip(1) {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(format!("an answer with Transfer-Encoding: {value}"));
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            }
        }
        let length = length.ok_or("an answer without Content-Length")?;
        if length > MAX_ANSWER {
            return Err(format!("an answer of {length} bytes"));
        }
        // The body.
        while self.buf.len() < head_end + length {
            read_more(stream, &mut self.buf).await?;
        }
        let body = String::from_utf8_lossy(&self.buf[head_end..head_end + length]).into_owned();
        if close || self.transport.new_per_request {
            self.stream = None;
        }
        Ok(Answer { status, body })
    }
}

/// Read into `buf` until it holds a whole head (through the blank line);
/// where the head ends.
pub async fn read_head<S: AsyncRead + Unpin + ?Sized>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> Result<usize, String> {
    loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(at + 4);
        }
        read_more(stream, buf).await?;
    }
}

/// Read what is there into `buf`; an error at the end of the stream.
pub async fn read_more<S: AsyncRead + Unpin + ?Sized>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> Result<(), String> {
    if buf.len() > MAX_ANSWER {
        return Err("an answer too long".to_owned());
    }
    let read = stream
        .read_buf(buf)
        .await
        .map_err(|e| format!("read: {e}"))?;
    if read == 0 {
        return Err("the connection closed mid-answer".to_owned());
    }
    Ok(())
}

/// A whole `POST /` request: the head with `headers`, then `body`.
pub fn request(host: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut out = format!(
        "POST / HTTP/1.1\r\nhost: {host}\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.push_str(body);
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that answers each request read with the next of `answers`.
    async fn serve(answers: Vec<&'static str>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            for answer in answers {
                let mut buf = vec![0u8; 4096];
                let _ = socket.read(&mut buf).await.unwrap();
                // Write in two parts, as a slow server might.
                let (a, b) = answer.split_at(answer.len() / 2);
                socket.write_all(a.as_bytes()).await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
                socket.write_all(b.as_bytes()).await.unwrap();
            }
        });
        host
    }

    #[tokio::test]
    async fn answers_are_read_by_content_length_on_one_kept_alive_connection() {
        let host = serve(vec![
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\nx: y\r\n\r\n{}",
        ])
        .await;
        let mut conn = Connection::new(&host);
        let req = request(&host, &[("x-amz-target", "T")], "{}");
        let first = conn.send(&req).await.unwrap();
        assert_eq!((first.status, first.body.as_str()), (200, "hello"));
        let second = conn.send(&req).await.unwrap();
        assert_eq!((second.status, second.body.as_str()), (400, "{}"));
    }

    #[tokio::test]
    async fn a_chunked_answer_is_an_error_not_a_hang() {
        let host = serve(vec![
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        ])
        .await;
        let mut conn = Connection::new(&host);
        let err = conn.send(&request(&host, &[], "{}")).await.unwrap_err();
        assert!(err.contains("Transfer-Encoding"), "{err}");
    }

    #[test]
    fn a_request_carries_its_length_headers_and_body() {
        let req = request(
            "h:1",
            &[("content-type", "application/x-amz-json-1.1")],
            "{}",
        );
        assert_eq!(
            String::from_utf8(req).unwrap(),
            "POST / HTTP/1.1\r\nhost: h:1\r\ncontent-length: 2\r\n\
             content-type: application/x-amz-json-1.1\r\n\r\n{}"
        );
    }
}
